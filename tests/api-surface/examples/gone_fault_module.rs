// expect: module `fault` is private
//! Fault injection is for our own tests.
fn main() {
    let _guard = rmqstore::fault::inject(
        rmqstore::fault::FaultPoint::Flush,
        std::path::Path::new("/"),
        5,
        0,
        1,
    );
}
