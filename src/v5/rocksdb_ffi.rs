//! RocksDB's C API, loaded at run time from the library Apache ships for RocketMQ 5.x
//! (`librocksdbjni-linux64.so` inside `rocketmq-rocksdb-*.jar`, or a `rocksdbjni-*.jar`), which
//! exports the C API next to its JNI functions. Nothing is linked at build time: the `rocksdb`
//! crate needs libclang and a C++ build of RocksDB (see `docs/format.md` §12.7).
//!
//! Where the library comes from, first found wins:
//! 1. `RMQSTORE_ROCKSDB_LIB`: a shared library, a jar holding one, or a directory of jars
//!    (a broker's `$ROCKETMQ_HOME/lib`);
//! 2. `$ROCKETMQ_HOME/lib`;
//! 3. the Maven repository `~/.m2/repository/org/apache/rocketmq/rocketmq-rocksdb/*/`.
//!
//! A library inside a jar is unpacked to a private temporary file, loaded, and the file removed.
//! Every missing symbol, RocksDB error string and odd answer becomes an `Err(String)` naming the
//! library or database path; nothing here panics.

use std::ffi::{c_char, c_int, c_uchar, c_void, CStr, CString};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

type Db = c_void;
type Opts = c_void;
type Cf = c_void;
type Iter = c_void;
type ROpts = c_void;
type WOpts = c_void;
type Batch = c_void;
type FOpts = c_void;

/// The C API functions rmqstore uses (RocksDB `include/rocksdb/c.h`).
#[allow(clippy::type_complexity)]
pub struct Library {
    path: String,
    options_create: unsafe extern "C" fn() -> *mut Opts,
    options_destroy: unsafe extern "C" fn(*mut Opts),
    options_set_create_if_missing: unsafe extern "C" fn(*mut Opts, c_uchar),
    options_set_create_missing_column_families: unsafe extern "C" fn(*mut Opts, c_uchar),
    options_set_error_if_exists: unsafe extern "C" fn(*mut Opts, c_uchar),
    options_set_db_log_dir: unsafe extern "C" fn(*mut Opts, *const c_char),
    options_set_compression: unsafe extern "C" fn(*mut Opts, c_int),
    list_column_families:
        unsafe extern "C" fn(*const Opts, *const c_char, *mut usize, *mut *mut c_char) -> *mut *mut c_char,
    list_column_families_destroy: unsafe extern "C" fn(*mut *mut c_char, usize),
    open_for_read_only_column_families: unsafe extern "C" fn(
        *const Opts,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const Opts,
        *mut *mut Cf,
        c_uchar,
        *mut *mut c_char,
    ) -> *mut Db,
    open_column_families: unsafe extern "C" fn(
        *const Opts,
        *const c_char,
        c_int,
        *const *const c_char,
        *const *const Opts,
        *mut *mut Cf,
        *mut *mut c_char,
    ) -> *mut Db,
    close: unsafe extern "C" fn(*mut Db),
    column_family_handle_destroy: unsafe extern "C" fn(*mut Cf),
    readoptions_create: unsafe extern "C" fn() -> *mut ROpts,
    readoptions_destroy: unsafe extern "C" fn(*mut ROpts),
    create_iterator_cf: unsafe extern "C" fn(*mut Db, *const ROpts, *mut Cf) -> *mut Iter,
    iter_destroy: unsafe extern "C" fn(*mut Iter),
    iter_seek_to_first: unsafe extern "C" fn(*mut Iter),
    iter_valid: unsafe extern "C" fn(*const Iter) -> c_uchar,
    iter_next: unsafe extern "C" fn(*mut Iter),
    iter_key: unsafe extern "C" fn(*const Iter, *mut usize) -> *const c_char,
    iter_value: unsafe extern "C" fn(*const Iter, *mut usize) -> *const c_char,
    iter_get_error: unsafe extern "C" fn(*const Iter, *mut *mut c_char),
    writebatch_create: unsafe extern "C" fn() -> *mut Batch,
    writebatch_destroy: unsafe extern "C" fn(*mut Batch),
    writebatch_put_cf:
        unsafe extern "C" fn(*mut Batch, *mut Cf, *const c_char, usize, *const c_char, usize),
    writeoptions_create: unsafe extern "C" fn() -> *mut WOpts,
    writeoptions_destroy: unsafe extern "C" fn(*mut WOpts),
    write: unsafe extern "C" fn(*mut Db, *const WOpts, *mut Batch, *mut *mut c_char),
    flushoptions_create: unsafe extern "C" fn() -> *mut FOpts,
    flushoptions_destroy: unsafe extern "C" fn(*mut FOpts),
    flushoptions_set_wait: unsafe extern "C" fn(*mut FOpts, c_uchar),
    flush_cf: unsafe extern "C" fn(*mut Db, *const FOpts, *mut Cf, *mut *mut c_char),
    free: unsafe extern "C" fn(*mut c_void),
}

// SAFETY: the struct holds plain function pointers into a library that stays loaded for the
// life of the process (never dlclose'd) and a String; RocksDB's C API is thread-safe for the
// calls made here (each call works on handles it creates and destroys itself).
unsafe impl Send for Library {}
// SAFETY: as above; the struct is never mutated after loading.
unsafe impl Sync for Library {}

static LIB: OnceLock<Result<Library, String>> = OnceLock::new();

/// The RocksDB library, loaded once per process. `Err` says where it was looked for and what
/// was missing.
pub fn library() -> Result<&'static Library, String> {
    LIB.get_or_init(|| {
        let src = find_source()?;
        load_from(&src)
    })
    .as_ref()
    .map_err(|e| e.clone())
}

fn find_source() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("RMQSTORE_ROCKSDB_LIB") {
        let p = PathBuf::from(p);
        if !p.exists() {
            return Err(format!(
                "RMQSTORE_ROCKSDB_LIB={}: no such file or directory",
                p.display()
            ));
        }
        return Ok(p);
    }
    if let Some(home) = std::env::var_os("ROCKETMQ_HOME") {
        let lib = PathBuf::from(home).join("lib");
        if jar_in(&lib).is_some() {
            return Ok(lib);
        }
    }
    if let Some(home) = std::env::var_os("HOME") {
        let m2 = PathBuf::from(home).join(".m2/repository/org/apache/rocketmq/rocketmq-rocksdb");
        let mut versions: Vec<PathBuf> = std::fs::read_dir(&m2)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_default();
        versions.sort();
        for v in versions.iter().rev() {
            if let Some(j) = jar_in(v) {
                return Ok(j);
            }
        }
    }
    Err("no RocksDB library: set RMQSTORE_ROCKSDB_LIB to librocksdbjni-linux64.so, to \
         rocketmq-rocksdb-*.jar or rocksdbjni-*.jar, or to a broker's $ROCKETMQ_HOME/lib (none \
         found there, in $ROCKETMQ_HOME/lib, or in ~/.m2)"
        .into())
}

/// A RocksDB jar in `dir`: `rocketmq-rocksdb-*.jar` or `rocksdbjni-*.jar`.
fn jar_in(dir: &Path) -> Option<PathBuf> {
    let mut jars: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            n.ends_with(".jar")
                && (n.starts_with("rocketmq-rocksdb-") || n.starts_with("rocksdbjni-"))
                && !n.contains("sources")
        })
        .collect();
    jars.sort();
    jars.pop()
}

/// The library's file name inside Apache's jars for this platform.
fn lib_name_in_jar() -> &'static str {
    if cfg!(all(target_os = "linux", target_arch = "x86_64", target_env = "musl")) {
        "librocksdbjni-linux64-musl.so"
    } else if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
        "librocksdbjni-linux64.so"
    } else if cfg!(all(target_os = "linux", target_arch = "aarch64")) {
        "librocksdbjni-linux-aarch64.so"
    } else if cfg!(all(target_os = "macos", target_arch = "aarch64")) {
        "librocksdbjni-osx-arm64.jnilib"
    } else if cfg!(target_os = "macos") {
        "librocksdbjni-osx-x86_64.jnilib"
    } else {
        "librocksdbjni-linux64.so"
    }
}

fn load_from(src: &Path) -> Result<Library, String> {
    let src = if src.is_dir() {
        jar_in(src).ok_or_else(|| {
            format!(
                "{}: no rocketmq-rocksdb-*.jar or rocksdbjni-*.jar in this directory",
                src.display()
            )
        })?
    } else {
        src.to_path_buf()
    };
    let is_jar = src.extension().is_some_and(|e| e == "jar");
    if !is_jar {
        return dlopen(&src, &src.display().to_string());
    }
    let name = lib_name_in_jar();
    let bytes = zip_entry(&src, name)?;
    let tmp = std::env::temp_dir().join(format!(
        "rmqstore-rocksdb-{}-{}",
        std::process::id(),
        name
    ));
    std::fs::write(&tmp, &bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let r = dlopen(&tmp, &format!("{} (entry {name})", src.display()));
    // The mapping stays after the file is gone.
    let _ = std::fs::remove_file(&tmp);
    r
}

/// Reads one stored or deflated entry of a zip file (a jar).
fn zip_entry(zip: &Path, name: &str) -> Result<Vec<u8>, String> {
    let d = std::fs::read(zip).map_err(|e| format!("{}: {e}", zip.display()))?;
    let bad = |w: &str| format!("{}: not a readable jar ({w})", zip.display());
    // End of central directory: the last "PK\x05\x06" within the final 64 KiB + 22 bytes.
    let lo = d.len().saturating_sub(65_557);
    let eocd = (lo..d.len().saturating_sub(21))
        .rev()
        .find(|&i| d[i..i + 4] == *b"PK\x05\x06")
        .ok_or_else(|| bad("no end-of-central-directory record"))?;
    let u16_at = |i: usize| -> Result<usize, String> {
        d.get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]) as usize)
            .ok_or_else(|| bad("truncated"))
    };
    let u32_at = |i: usize| -> Result<usize, String> {
        d.get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
            .ok_or_else(|| bad("truncated"))
    };
    let count = u16_at(eocd + 10)?;
    let mut at = u32_at(eocd + 16)?;
    for _ in 0..count {
        if d.get(at..at + 4) != Some(b"PK\x01\x02") {
            return Err(bad("bad central directory entry"));
        }
        let method = u16_at(at + 10)?;
        let csize = u32_at(at + 20)?;
        let usize_ = u32_at(at + 24)?;
        let nlen = u16_at(at + 28)?;
        let elen = u16_at(at + 30)?;
        let clen = u16_at(at + 32)?;
        let local = u32_at(at + 42)?;
        let ename = d.get(at + 46..at + 46 + nlen).ok_or_else(|| bad("truncated"))?;
        if ename == name.as_bytes() {
            if d.get(local..local + 4) != Some(b"PK\x03\x04") {
                return Err(bad("bad local header"));
            }
            let start = local + 30 + u16_at(local + 26)? + u16_at(local + 28)?;
            let data = d.get(start..start + csize).ok_or_else(|| bad("truncated entry"))?;
            return match method {
                0 => Ok(data.to_vec()),
                8 => {
                    let mut out = Vec::with_capacity(usize_);
                    flate2::read::DeflateDecoder::new(data)
                        .read_to_end(&mut out)
                        .map_err(|e| bad(&format!("entry {name}: {e}")))?;
                    if out.len() != usize_ {
                        return Err(bad(&format!("entry {name}: inflated to the wrong size")));
                    }
                    Ok(out)
                }
                m => Err(bad(&format!("entry {name}: compression method {m}"))),
            };
        }
        at += 46 + nlen + elen + clen;
    }
    Err(format!(
        "{}: holds no {name} (the RocksDB library for this platform)",
        zip.display()
    ))
}

fn dl_error() -> String {
    // SAFETY: dlerror returns NULL or a pointer to a NUL-terminated string owned by the C
    // library, valid until the next dl* call on this thread; it is copied at once.
    unsafe {
        let e = libc::dlerror();
        if e.is_null() {
            "unknown error".into()
        } else {
            CStr::from_ptr(e).to_string_lossy().into_owned()
        }
    }
}

/// A function pointer of type `F` from a symbol address.
///
/// # Safety
/// `F` must be an `extern "C"` function-pointer type matching the symbol's C signature.
unsafe fn fn_ptr<F: Copy>(p: *mut c_void) -> F {
    const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
    // SAFETY: same size (checked at compile time); the caller vouches for the signature.
    unsafe { std::mem::transmute_copy(&p) }
}

fn dlopen(file: &Path, shown: &str) -> Result<Library, String> {
    let c = CString::new(file.as_os_str().as_encoded_bytes())
        .map_err(|_| format!("{shown}: path holds a NUL byte"))?;
    // SAFETY: `c` is a valid NUL-terminated path; dlopen runs the library's initializers, which
    // for librocksdbjni only register RocksDB's static state (no JVM is needed until a JNI
    // function is called, and none is).
    let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_LOCAL) };
    if h.is_null() {
        return Err(format!("{shown}: cannot load: {}", dl_error()));
    }
    macro_rules! sym {
        ($name:literal) => {{
            let n = concat!($name, "\0");
            // SAFETY: `h` is a live handle from dlopen (never closed) and `n` is NUL-terminated.
            let p = unsafe { libc::dlsym(h, n.as_ptr() as *const c_char) };
            if p.is_null() {
                return Err(format!(
                    "{shown}: the library does not export {} (not a RocksDB C API library?)",
                    $name
                ));
            }
            // SAFETY: the symbol is the RocksDB C API function of that name, whose C signature
            // (include/rocksdb/c.h, RocksDB 6.x-9.x) is the field type it is stored in.
            unsafe { fn_ptr(p) }
        }};
    }
    Ok(Library {
        path: shown.to_string(),
        options_create: sym!("rocksdb_options_create"),
        options_destroy: sym!("rocksdb_options_destroy"),
        options_set_create_if_missing: sym!("rocksdb_options_set_create_if_missing"),
        options_set_create_missing_column_families: sym!(
            "rocksdb_options_set_create_missing_column_families"
        ),
        options_set_error_if_exists: sym!("rocksdb_options_set_error_if_exists"),
        options_set_db_log_dir: sym!("rocksdb_options_set_db_log_dir"),
        options_set_compression: sym!("rocksdb_options_set_compression"),
        list_column_families: sym!("rocksdb_list_column_families"),
        list_column_families_destroy: sym!("rocksdb_list_column_families_destroy"),
        open_for_read_only_column_families: sym!("rocksdb_open_for_read_only_column_families"),
        open_column_families: sym!("rocksdb_open_column_families"),
        close: sym!("rocksdb_close"),
        column_family_handle_destroy: sym!("rocksdb_column_family_handle_destroy"),
        readoptions_create: sym!("rocksdb_readoptions_create"),
        readoptions_destroy: sym!("rocksdb_readoptions_destroy"),
        create_iterator_cf: sym!("rocksdb_create_iterator_cf"),
        iter_destroy: sym!("rocksdb_iter_destroy"),
        iter_seek_to_first: sym!("rocksdb_iter_seek_to_first"),
        iter_valid: sym!("rocksdb_iter_valid"),
        iter_next: sym!("rocksdb_iter_next"),
        iter_key: sym!("rocksdb_iter_key"),
        iter_value: sym!("rocksdb_iter_value"),
        iter_get_error: sym!("rocksdb_iter_get_error"),
        writebatch_create: sym!("rocksdb_writebatch_create"),
        writebatch_destroy: sym!("rocksdb_writebatch_destroy"),
        writebatch_put_cf: sym!("rocksdb_writebatch_put_cf"),
        writeoptions_create: sym!("rocksdb_writeoptions_create"),
        writeoptions_destroy: sym!("rocksdb_writeoptions_destroy"),
        write: sym!("rocksdb_write"),
        flushoptions_create: sym!("rocksdb_flushoptions_create"),
        flushoptions_destroy: sym!("rocksdb_flushoptions_destroy"),
        flushoptions_set_wait: sym!("rocksdb_flushoptions_set_wait"),
        flush_cf: sym!("rocksdb_flush_cf"),
        free: sym!("rocksdb_free"),
    })
}

/// A temporary directory for RocksDB's info log (`LOG`), so that opening a database writes
/// nothing into the store; removed on drop.
struct LogDir(PathBuf);
impl LogDir {
    fn new() -> Result<LogDir, String> {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "rmqstore-rocksdb-log-{}-{}",
            std::process::id(),
            N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).map_err(|e| format!("{}: {e}", p.display()))?;
        Ok(LogDir(p))
    }
}
impl Drop for LogDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options handle, destroyed on drop.
struct OptsGuard<'a>(&'a Library, *mut Opts);
impl Drop for OptsGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: created by rocksdb_options_create and destroyed exactly once, after the
        // database that used it was closed (guards drop in reverse order of creation).
        unsafe { (self.0.options_destroy)(self.1) }
    }
}

/// An open database with its column-family handles; closed on drop.
struct DbGuard<'a> {
    lib: &'a Library,
    db: *mut Db,
    cfs: Vec<*mut Cf>,
}
impl Drop for DbGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the handles came from the open call, are destroyed once, before the database
        // is closed (as RocksDB requires); no iterator on them outlives this guard.
        unsafe {
            for cf in &self.cfs {
                if !cf.is_null() {
                    (self.lib.column_family_handle_destroy)(*cf);
                }
            }
            (self.lib.close)(self.db);
        }
    }
}

impl Library {
    /// Takes a RocksDB error string (if any) and frees it.
    fn take_err(&self, err: *mut c_char, what: &str) -> Result<(), String> {
        if err.is_null() {
            return Ok(());
        }
        // SAFETY: RocksDB set `err` to a malloc'd NUL-terminated string; it is copied, then
        // freed with rocksdb_free exactly once.
        let msg = unsafe {
            let m = CStr::from_ptr(err).to_string_lossy().into_owned();
            (self.free)(err as *mut c_void);
            m
        };
        Err(format!("{what}: {msg}"))
    }

    fn new_opts(&self, log: &LogDir) -> Result<OptsGuard<'_>, String> {
        // SAFETY: rocksdb_options_create returns a fresh handle (NULL checked below).
        let o = unsafe { (self.options_create)() };
        if o.is_null() {
            return Err(format!("{}: rocksdb_options_create failed", self.path));
        }
        let g = OptsGuard(self, o);
        let dir = CString::new(log.0.as_os_str().as_encoded_bytes())
            .map_err(|_| "log directory path holds a NUL byte".to_string())?;
        // SAFETY: `o` is live; RocksDB copies the string.
        unsafe { (self.options_set_db_log_dir)(o, dir.as_ptr()) };
        Ok(g)
    }

    fn cf_names(&self, opts: &OptsGuard<'_>, dir: &Path, cpath: &CString) -> Result<Vec<String>, String> {
        let mut n: usize = 0;
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: opts and path are valid; `n` and `err` are out-parameters.
        let list = unsafe { (self.list_column_families)(opts.1, cpath.as_ptr(), &mut n, &mut err) };
        self.take_err(err, &format!("{}: listing column families", dir.display()))?;
        if list.is_null() {
            return Err(format!("{}: listing column families failed", dir.display()));
        }
        let mut names = Vec::with_capacity(n);
        for i in 0..n {
            // SAFETY: `list` holds `n` NUL-terminated strings, read before the list is freed.
            let s = unsafe { CStr::from_ptr(*list.add(i)) };
            names.push(s.to_string_lossy().into_owned());
        }
        // SAFETY: frees the list returned above, once.
        unsafe { (self.list_column_families_destroy)(list, n) };
        Ok(names)
    }

    /// Opens the database in `dir` read-only (no lock, no file created or changed in `dir`:
    /// the info log goes to a temporary directory) and returns every entry of the `default`
    /// and `offset` column families in key order, and the names of any other column families.
    #[allow(clippy::type_complexity)]
    pub fn read_all(
        &self,
        dir: &Path,
    ) -> Result<(Vec<(Vec<u8>, Vec<u8>)>, Vec<(Vec<u8>, Vec<u8>)>, Vec<String>), String> {
        if !dir.join("CURRENT").is_file() {
            return Err(format!("{}: not a RocksDB database (no CURRENT file)", dir.display()));
        }
        let log = LogDir::new()?;
        let opts = self.new_opts(&log)?;
        let cpath = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: path holds a NUL byte", dir.display()))?;
        let names = self.cf_names(&opts, dir, &cpath)?;
        for need in ["default", super::rocksdb_cq::OFFSET_CF] {
            if !names.iter().any(|n| n == need) {
                return Err(format!(
                    "{}: no `{need}` column family (found {names:?}): not a 5.x RocksDB consume queue",
                    dir.display()
                ));
            }
        }
        let cnames: Vec<CString> = names
            .iter()
            .map(|n| CString::new(n.as_bytes()).unwrap_or_default())
            .collect();
        let name_ptrs: Vec<*const c_char> = cnames.iter().map(|c| c.as_ptr()).collect();
        let opt_ptrs: Vec<*const Opts> = names.iter().map(|_| opts.1 as *const Opts).collect();
        let mut handles: Vec<*mut Cf> = vec![std::ptr::null_mut(); names.len()];
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: all arrays hold `names.len()` valid entries; `handles` receives as many
        // handles; error_if_wal_file_exists = 0 (a WAL is replayed in memory only).
        let db = unsafe {
            (self.open_for_read_only_column_families)(
                opts.1,
                cpath.as_ptr(),
                names.len() as c_int,
                name_ptrs.as_ptr(),
                opt_ptrs.as_ptr(),
                handles.as_mut_ptr(),
                0,
                &mut err,
            )
        };
        self.take_err(err, &format!("{}: opening read-only", dir.display()))?;
        if db.is_null() {
            return Err(format!("{}: opening read-only failed", dir.display()));
        }
        let g = DbGuard {
            lib: self,
            db,
            cfs: handles,
        };
        let idx = |n: &str| names.iter().position(|x| x == n).expect("checked above");
        let def = self.scan(&g, g.cfs[idx("default")], dir, "default")?;
        let off = self.scan(&g, g.cfs[idx(super::rocksdb_cq::OFFSET_CF)], dir, "offset")?;
        let other = names
            .iter()
            .filter(|n| *n != "default" && *n != super::rocksdb_cq::OFFSET_CF)
            .cloned()
            .collect();
        drop(g);
        drop(opts);
        Ok((def, off, other))
    }

    #[allow(clippy::type_complexity)]
    fn scan(
        &self,
        g: &DbGuard<'_>,
        cf: *mut Cf,
        dir: &Path,
        cf_name: &str,
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>, String> {
        let mut out = Vec::new();
        // SAFETY: fresh read options, destroyed below after the iterator.
        let ro = unsafe { (self.readoptions_create)() };
        if ro.is_null() {
            return Err(format!("{}: rocksdb_readoptions_create failed", self.path));
        }
        // SAFETY: db and cf handles are live for the guard's life; `ro` is valid.
        let it = unsafe { (self.create_iterator_cf)(g.db, ro, cf) };
        if it.is_null() {
            // SAFETY: destroys `ro` once.
            unsafe { (self.readoptions_destroy)(ro) };
            return Err(format!("{}: cannot iterate column family {cf_name}", dir.display()));
        }
        // SAFETY: `it` is a live iterator; key/value pointers are valid until the next move
        // and are copied at once; lengths come from RocksDB.
        unsafe {
            (self.iter_seek_to_first)(it);
            while (self.iter_valid)(it) != 0 {
                let mut kl = 0usize;
                let mut vl = 0usize;
                let k = (self.iter_key)(it, &mut kl);
                let v = (self.iter_value)(it, &mut vl);
                let key = if kl == 0 { Vec::new() } else { std::slice::from_raw_parts(k as *const u8, kl).to_vec() };
                let val = if vl == 0 { Vec::new() } else { std::slice::from_raw_parts(v as *const u8, vl).to_vec() };
                out.push((key, val));
                (self.iter_next)(it);
            }
        }
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: `it` is live; `err` is an out-parameter.
        unsafe { (self.iter_get_error)(it, &mut err) };
        // SAFETY: destroys the iterator, then its read options, once each.
        unsafe {
            (self.iter_destroy)(it);
            (self.readoptions_destroy)(ro);
        }
        self.take_err(err, &format!("{}: reading column family {cf_name}", dir.display()))?;
        Ok(out)
    }

    /// Creates a new database in `dir` (which must not exist) with the `default` and `offset`
    /// column families, writes the entries in one batch, flushes both to SST files and closes.
    pub fn write_new(
        &self,
        dir: &Path,
        default_cf: &[(Vec<u8>, Vec<u8>)],
        offset_cf: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), String> {
        if dir.exists() {
            return Err(format!("{}: already exists", dir.display()));
        }
        if let Some(parent) = dir.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let log = LogDir::new()?;
        let opts = self.new_opts(&log)?;
        // SAFETY: `opts.1` is live. LZ4 as 5.3.3's rocksdbCompressionType default (4 = kLZ4Compression).
        unsafe {
            (self.options_set_create_if_missing)(opts.1, 1);
            (self.options_set_create_missing_column_families)(opts.1, 1);
            (self.options_set_error_if_exists)(opts.1, 1);
            (self.options_set_compression)(opts.1, 4);
        }
        let cpath = CString::new(dir.as_os_str().as_encoded_bytes())
            .map_err(|_| format!("{}: path holds a NUL byte", dir.display()))?;
        let names = [c"default", c"offset"];
        let name_ptrs: Vec<*const c_char> = names.iter().map(|c| c.as_ptr()).collect();
        let opt_ptrs: Vec<*const Opts> = names.iter().map(|_| opts.1 as *const Opts).collect();
        let mut handles: Vec<*mut Cf> = vec![std::ptr::null_mut(); 2];
        let mut err: *mut c_char = std::ptr::null_mut();
        // SAFETY: arrays of two valid entries each; `handles` receives two handles.
        let db = unsafe {
            (self.open_column_families)(
                opts.1,
                cpath.as_ptr(),
                2,
                name_ptrs.as_ptr(),
                opt_ptrs.as_ptr(),
                handles.as_mut_ptr(),
                &mut err,
            )
        };
        self.take_err(err, &format!("{}: creating the database", dir.display()))?;
        if db.is_null() {
            return Err(format!("{}: creating the database failed", dir.display()));
        }
        let g = DbGuard {
            lib: self,
            db,
            cfs: handles,
        };
        // SAFETY: fresh batch and write options, destroyed once below; keys and values are
        // valid slices for the duration of each put (RocksDB copies them).
        let r = unsafe {
            let b = (self.writebatch_create)();
            let wo = (self.writeoptions_create)();
            for (cf, entries) in [(g.cfs[0], default_cf), (g.cfs[1], offset_cf)] {
                for (k, v) in entries {
                    (self.writebatch_put_cf)(
                        b,
                        cf,
                        k.as_ptr() as *const c_char,
                        k.len(),
                        v.as_ptr() as *const c_char,
                        v.len(),
                    );
                }
            }
            let mut err: *mut c_char = std::ptr::null_mut();
            (self.write)(g.db, wo, b, &mut err);
            (self.writeoptions_destroy)(wo);
            (self.writebatch_destroy)(b);
            self.take_err(err, &format!("{}: writing", dir.display()))
        };
        r?;
        for (i, cf_name) in ["default", "offset"].iter().enumerate() {
            let mut err: *mut c_char = std::ptr::null_mut();
            // SAFETY: fresh flush options, destroyed once; db and cf handles live.
            unsafe {
                let fo = (self.flushoptions_create)();
                (self.flushoptions_set_wait)(fo, 1);
                (self.flush_cf)(g.db, fo, g.cfs[i], &mut err);
                (self.flushoptions_destroy)(fo);
            }
            self.take_err(err, &format!("{}: flushing {cf_name}", dir.display()))?;
        }
        drop(g);
        drop(opts);
        Ok(())
    }
}
