//! Topic name validation.
//!
//! Java's store (4.6.0 `DefaultMessageStore#putMessage`) checks only a topic's length; the
//! character rules (`[%|a-zA-Z0-9_-]`) are the broker's `TopicValidator`, applied before a
//! message reaches the store. So a Java store can hold any topic, `主题Ü-unicode` or `a b.c`
//! alike, and names its consume-queue folder `consumequeue/<topic>/` after it. We take every
//! such topic, on put and wherever we read one, except those that cannot be one folder name
//! inside `consumequeue/`: empty, `.`, `..`, or containing `/` or NUL. (Java would write
//! outside its folder or fail; we refuse these with a clear error on put, and dispatch keeps
//! such records out of the consume queues and reports them.)

use crate::error::{Result, StoreError};

/// Longest topic a V1 record can carry (its length is one signed byte), the 4.6.0 limit.
/// Java 4.6.0 checks `topic.length()` in UTF-16 units against 127, then writes the UTF-8 byte
/// count as a byte: a topic of at most 127 characters but more than 127 bytes gives a record
/// no reader can decode. We count bytes, so such a topic is refused instead.
pub const MAX_TOPIC_LEN_V1: usize = 127;
/// Longest topic 5.x accepts (retry topics, written as V2 records; also the longest folder
/// name most file systems allow).
pub const MAX_TOPIC_LEN: usize = 255;

/// Checks that a topic can be stored and can name its consume-queue folder: not empty, not
/// `.` or `..`, no `/` or NUL, at most [`MAX_TOPIC_LEN`] bytes. Every other character is
/// allowed, as in Java's store. (Whether a V1 record can carry it is the put path's check.)
pub fn validate_topic(topic: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(StoreError::InvalidTopic {
            topic: topic.chars().take(300).collect(),
            why: why.to_string(),
        })
    };
    if topic.is_empty() {
        return bad("the topic is empty");
    }
    if topic == "." || topic == ".." {
        return bad("`.` and `..` cannot name a consume-queue folder");
    }
    if topic.contains('/') {
        return bad("a topic containing '/' cannot name a consume-queue folder");
    }
    if topic.contains('\0') {
        return bad("a topic containing NUL cannot name a consume-queue folder");
    }
    if topic.len() > MAX_TOPIC_LEN {
        return bad(&format!(
            "{} bytes, longer than {MAX_TOPIC_LEN}",
            topic.len()
        ));
    }
    Ok(())
}

/// Checks a queue id taken from a caller or a directory name.
pub fn validate_queue_id(queue_id: i32) -> Result<()> {
    if queue_id < 0 {
        return Err(StoreError::Invalid(format!(
            "queue id {queue_id} is negative"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_unsafe_folder_names_and_accepts_what_java_stores() {
        for t in [
            "TopicTest",
            "%RETRY%g",
            "%DLQ%g",
            "a|b",
            "T",
            "SCHEDULE_TOPIC_XXXX",
            "x-y",
            "主题Ü-unicode",
            "a b",
            "a\\b",
            "...",
            ".x",
            "x..",
            "\u{fffd}",
        ] {
            validate_topic(t).unwrap();
        }
        for t in ["", "../x", "a/b", "..", ".", "/abs", "t\0"] {
            assert!(validate_topic(t).is_err(), "{t:?}");
        }
        assert!(validate_topic(&"a".repeat(255)).is_ok());
        assert!(validate_topic(&"a".repeat(256)).is_err());
        assert!(validate_queue_id(-1).is_err());
    }
}
