//! Topic name validation. RocketMQ allows `[%|a-zA-Z0-9_-]`; since none of those is a path
//! separator or a dot, no valid topic can name a path outside the store.

use crate::error::{Result, StoreError};

/// Longest topic a V1 record can carry (a signed byte), the 4.6.0 store limit.
pub const MAX_TOPIC_LEN_V1: usize = 127;
/// Longest topic 5.x accepts (retry topics, written as V2 records).
pub const MAX_TOPIC_LEN: usize = 255;

/// The bytes a topic may contain: `[%|a-zA-Z0-9_-]`.
static ALLOWED: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        t[b] = c.is_ascii_alphanumeric() || c == b'%' || c == b'|' || c == b'_' || c == b'-';
        b += 1;
    }
    t
};

/// Checks a topic name as RocketMQ's `Validators.checkTopic` does, with the 5.x length limit.
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
    if topic.len() > MAX_TOPIC_LEN {
        return bad("longer than 255 characters");
    }
    let allowed = |b: u8| ALLOWED[b as usize];
    if !topic.bytes().all(allowed) {
        let c = topic
            .chars()
            .find(|&c| !(c.is_ascii() && allowed(c as u8)))
            .unwrap_or('?');
        return bad(&format!(
            "character {c:?} is not allowed (only letters, digits, %, |, _ and -)"
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
    fn rejects_paths_and_accepts_rocketmq_names() {
        for t in [
            "TopicTest",
            "%RETRY%g",
            "%DLQ%g",
            "a|b",
            "T",
            "SCHEDULE_TOPIC_XXXX",
            "x-y",
        ] {
            validate_topic(t).unwrap();
        }
        for t in ["", "../x", "a/b", "..", ".", "a\\b", "a b", "/abs", "t\0"] {
            assert!(validate_topic(t).is_err(), "{t:?}");
        }
        assert!(validate_topic(&"a".repeat(255)).is_ok());
        assert!(validate_topic(&"a".repeat(256)).is_err());
        assert!(validate_queue_id(-1).is_err());
    }
}
