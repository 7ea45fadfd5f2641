//! Light message queues (5.x `enableLmq` + `enableMultiDispatch`). A message whose
//! `INNER_MULTI_DISPATCH` property lists queues (`%LMQ%a,%LMQ%b`) is stored once, under its own
//! topic, and dispatched to a plain 20-byte consume-queue unit in queue 0 of each listed LMQ
//! (`consumequeue/%LMQ%a/0/`). The commitlog writer records the unit's offset in each queue in
//! `INNER_MULTI_QUEUE_OFFSET` (same order, comma-separated). Java: `LmqDispatch`,
//! `MultiDispatchUtils`, `ConsumeQueue#multiDispatchLmqQueue`.

use crate::format::properties;

/// Prefix of a light message queue's name (`MixAll.LMQ_PREFIX`).
pub const LMQ_PREFIX: &str = "%LMQ%";
/// The only queue id an LMQ has (`MixAll.LMQ_QUEUE_ID`).
pub const LMQ_QUEUE_ID: i32 = 0;
pub const PROPERTY_INNER_MULTI_DISPATCH: &str = "INNER_MULTI_DISPATCH";
pub const PROPERTY_INNER_MULTI_QUEUE_OFFSET: &str = "INNER_MULTI_QUEUE_OFFSET";

/// `MixAll#isLmq`.
pub fn is_lmq(topic: &str) -> bool {
    topic.starts_with(LMQ_PREFIX)
}

/// `MultiDispatchUtils#isNeedHandleMultiDispatch` for a record's topic (with
/// `enableMultiDispatch` on): not a retry topic, not a `rmq_sys_` topic, not the schedule topic.
#[cfg(test)]
pub fn topic_may_multi_dispatch(topic: &str) -> bool {
    !topic.starts_with("%RETRY%")
        && !topic.starts_with("rmq_sys_")
        && topic != "SCHEDULE_TOPIC_XXXX"
}

/// An LMQ a record is dispatched to, and its queue offset there (`None` where Java wrote `null`).
pub type Target = (String, Option<i64>);

/// The LMQ targets of a record and each one's queue offset, from its raw properties; `None`
/// if the record carries no multi-dispatch pair. An offset Java wrote as `null` (a queue that
/// is not an LMQ while `enableLmq` was on) is `None`.
pub fn targets(props: &[u8]) -> Option<Result<Vec<Target>, String>> {
    let queues = properties::get(props, PROPERTY_INNER_MULTI_DISPATCH)?;
    let offsets = properties::get(props, PROPERTY_INNER_MULTI_QUEUE_OFFSET)?;
    if queues.trim().is_empty() || offsets.trim().is_empty() {
        return None;
    }
    let q: Vec<&str> = queues.split(',').collect();
    let o: Vec<&str> = offsets.split(',').collect();
    if q.len() != o.len() {
        return Some(Err(format!(
            "{PROPERTY_INNER_MULTI_DISPATCH} lists {} queues but {PROPERTY_INNER_MULTI_QUEUE_OFFSET} {} offsets",
            q.len(),
            o.len()
        )));
    }
    let mut out = Vec::with_capacity(q.len());
    for (name, off) in q.iter().zip(o) {
        let off = if off == "null" {
            None
        } else {
            match off.parse::<i64>() {
                Ok(v) => Some(v),
                Err(_) => {
                    return Some(Err(format!(
                        "queue offset {off:?} of {name} is not a number"
                    )))
                }
            }
        };
        out.push((name.to_string(), off));
    }
    Some(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_targets() {
        let p = b"INNER_MULTI_DISPATCH\x01%LMQ%a,%LMQ%b\x02INNER_MULTI_QUEUE_OFFSET\x013,null\x02";
        let t = targets(p).unwrap().unwrap();
        assert_eq!(t, vec![("%LMQ%a".into(), Some(3)), ("%LMQ%b".into(), None)]);
        assert!(targets(b"INNER_MULTI_DISPATCH\x01%LMQ%a\x02").is_none());
        let bad = b"INNER_MULTI_DISPATCH\x01%LMQ%a,%LMQ%b\x02INNER_MULTI_QUEUE_OFFSET\x013\x02";
        assert!(targets(bad).unwrap().is_err());
        assert!(is_lmq("%LMQ%x") && !topic_may_multi_dispatch("rmq_sys_wheel_timer"));
    }
}
