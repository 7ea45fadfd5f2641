//! Replay: appending each 4.6.0 fixture's messages, in put order and with their original
//! values, into an empty store with the fixture's config must reproduce Java's bytes:
//! commitlog segments up to the max offset, consume-queue files, and index file contents.

mod common;
use common::fixture_store_config;
use common::replay::replay_fixture_with;

fn replay_fixture(name: &str) {
    replay_fixture_with(name, |root, _| fixture_store_config(root));
}

#[test]
fn replay_4_6_0_async() {
    replay_fixture("rocketmq-4.6.0/async");
}

#[test]
fn replay_4_6_0_sync() {
    replay_fixture("rocketmq-4.6.0/sync");
}

#[test]
fn replay_4_6_0_transient() {
    replay_fixture("rocketmq-4.6.0/transient");
}

#[test]
fn replay_4_6_0_crashed() {
    replay_fixture("rocketmq-4.6.0/crashed");
}
