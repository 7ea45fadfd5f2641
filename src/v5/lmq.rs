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
        let off = if off == "null" || off.is_empty() {
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

/// Java's `String#split(",")`: trailing empty strings are dropped.
pub(crate) fn java_split(s: &str) -> Vec<&str> {
    let mut v: Vec<&str> = s.split(',').collect();
    while v.last().is_some_and(|x| x.is_empty()) {
        v.pop();
    }
    v
}

/// `MixAll#topicAllowsLMQ` (the same three exclusions as multi-dispatch).
pub fn topic_allows_lmq(topic: &str) -> bool {
    topic_may_multi_dispatch(topic)
}

/// The put side (`CommitLog#doAppend` with `enableLmq`, `MessageExtBrokerInner#needDispatchLMQ`):
/// the queue names of a message of `topic` whose `INNER_MULTI_DISPATCH` is not blank, in
/// order; `None` if the message is not multi-dispatched.
pub fn put_targets(topic: &str, props: &str) -> Option<Vec<String>> {
    if !topic_allows_lmq(topic) {
        return None;
    }
    let names = properties::get(props.as_bytes(), PROPERTY_INNER_MULTI_DISPATCH)?;
    if names.trim().is_empty() {
        return None;
    }
    Some(java_split(&names).into_iter().map(str::to_string).collect())
}

/// `LmqDispatch#wrapLmqDispatch`: the `INNER_MULTI_QUEUE_OFFSET` value for the offsets read
/// from each queue (`None` for a name that is not an LMQ): `StringUtils.join(Long[], ",")`,
/// which writes a null element as an empty string.
pub fn offsets_value(offsets: &[Option<i64>]) -> String {
    offsets
        .iter()
        .map(|o| o.map(|v| v.to_string()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join(",")
}

/// The dispatch side (`MultiDispatchUtils#checkMultiDispatchQueue`,
/// `ConsumeQueue#multiDispatchLmqQueue`, with `enableMultiDispatch`): each queue a record of
/// `topic` goes to as well, and its queue offset there. Empty when the record is not
/// multi-dispatched or its two properties list different counts (Java logs a bug and skips);
/// a name holding `/` is skipped as Java skips one holding `File.separator`, and so is an
/// offset that is not a number (Java's dispatch would throw on it).
pub fn dispatch_targets(topic: &str, props: &[u8]) -> Vec<(String, i64)> {
    if !topic_may_multi_dispatch(topic) {
        return Vec::new();
    }
    let (Some(q), Some(o)) = (
        properties::get(props, PROPERTY_INNER_MULTI_DISPATCH),
        properties::get(props, PROPERTY_INNER_MULTI_QUEUE_OFFSET),
    ) else {
        return Vec::new();
    };
    if q.trim().is_empty() || o.trim().is_empty() {
        return Vec::new();
    }
    let (q, o) = (java_split(&q), java_split(&o));
    if q.len() != o.len() {
        return Vec::new();
    }
    q.iter()
        .zip(o)
        .filter(|(name, _)| !name.contains('/'))
        .filter_map(|(name, off)| Some((name.to_string(), off.parse::<i64>().ok()?)))
        .collect()
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

    #[test]
    fn put_and_dispatch_sides() {
        let p = "INNER_MULTI_DISPATCH\x01%LMQ%a,plain,%LMQ%b\x02";
        assert_eq!(
            put_targets("T", p).unwrap(),
            vec!["%LMQ%a".to_string(), "plain".into(), "%LMQ%b".into()]
        );
        assert!(put_targets("%RETRY%g", p).is_none());
        assert!(put_targets("T", "INNER_MULTI_DISPATCH\x01 \x02").is_none());
        assert_eq!(offsets_value(&[Some(3), None, Some(0)]), "3,,0");
        let r = b"INNER_MULTI_DISPATCH\x01%LMQ%a,%LMQ%b\x02INNER_MULTI_QUEUE_OFFSET\x013,7\x02";
        assert_eq!(
            dispatch_targets("T", r),
            vec![("%LMQ%a".to_string(), 3), ("%LMQ%b".to_string(), 7)]
        );
        assert!(dispatch_targets("rmq_sys_x", r).is_empty());
        // A trailing null offset is dropped by split: the counts differ, nothing is dispatched.
        let r = b"INNER_MULTI_DISPATCH\x01%LMQ%a,b\x02INNER_MULTI_QUEUE_OFFSET\x013,\x02";
        assert!(dispatch_targets("T", r).is_empty());
    }
}
