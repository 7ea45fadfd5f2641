//! Message filters for [`MessageStore::get_message`](crate::MessageStore::get_message): Java's
//! `MessageFilter`, asked first with the tags code of a consume-queue unit (cheap: no commitlog
//! read) and then, for a unit that passed, with the record itself.

use std::collections::HashSet;

use crate::format::properties::StoreProperties;
use crate::format::tags_code;
use crate::store::StoredRecord;

/// Decides which messages a [`get_message`](crate::MessageStore::get_message) returns
/// (Java's `MessageFilter`).
///
/// `get_message` calls [`is_matched_by_consume_queue`](Self::is_matched_by_consume_queue) for
/// every unit it walks; a unit that fails is skipped without reading the commitlog. For a unit
/// that passes, the record is looked up and
/// [`is_matched_by_commit_log`](Self::is_matched_by_commit_log) decides.
///
/// ```
/// use rmqstore::store::{MessageFilter, StoredRecord};
///
/// /// Only messages whose body starts with `b"!"`.
/// struct Urgent;
/// impl MessageFilter for Urgent {
///     fn is_matched_by_consume_queue(&self, _tags_code: i64) -> bool {
///         true
///     }
///     fn is_matched_by_commit_log(&self, record: &StoredRecord) -> bool {
///         record.decode().is_ok_and(|r| r.body.starts_with(b"!"))
///     }
/// }
/// # let _ = Urgent;
/// ```
pub trait MessageFilter: Send + Sync {
    /// Whether a consume-queue unit with this tags code can match (`isMatchedByConsumeQueue`).
    /// The tags code is `TAGS.hashCode()` (0 without tags), or for `SCHEDULE_TOPIC_XXXX` the
    /// delivery time.
    fn is_matched_by_consume_queue(&self, tags_code: i64) -> bool;

    /// Whether the record matches (`isMatchedByCommitLog`); only asked for units that passed
    /// the consume-queue check. The default accepts, as Java's tag filter does.
    fn is_matched_by_commit_log(&self, record: &StoredRecord) -> bool {
        let _ = record;
        true
    }
}

/// A subscription by tags, as a consumer's `subscribe(topic, "TagA || TagB")` builds it
/// (`FilterAPI.buildSubscriptionData` + `DefaultMessageFilter`): `*` (or an empty expression)
/// takes everything; otherwise a unit matches when the `int` value of its tags code is the Java
/// hash of one of the tags.
///
/// Java's broker stops there, and the client drops hash collisions after the pull. By default
/// this filter also checks the record's TAGS property against the tag names, so a collision
/// is never returned; [`codes_only`](Self::codes_only) gives exactly Java's broker answer.
///
/// ```
/// use rmqstore::store::{MessageFilter, TagFilter};
///
/// let f = TagFilter::parse("TagA || TagB");
/// assert!(f.is_matched_by_consume_queue(rmqstore::format::tags_code(Some("TagA"))));
/// assert!(!f.is_matched_by_consume_queue(rmqstore::format::tags_code(Some("TagC"))));
/// assert!(TagFilter::parse("*").is_matched_by_consume_queue(12345));
/// assert_eq!(f.tags().count(), 2);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    /// `None`: `*`, every message.
    tags: Option<HashSet<String>>,
    codes: HashSet<i32>,
    exact: bool,
}

impl TagFilter {
    /// Every message (`*`).
    pub fn all() -> TagFilter {
        TagFilter {
            tags: None,
            codes: HashSet::new(),
            exact: true,
        }
    }

    /// A filter on these tags (each trimmed; empty ones ignored). No tags at all means `*`.
    pub fn new<I, S>(tags: I) -> TagFilter
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let set: HashSet<String> = tags
            .into_iter()
            .map(|t| t.as_ref().trim().to_string())
            .filter(|t| !t.is_empty())
            .collect();
        if set.is_empty() || set.contains("*") {
            return TagFilter::all();
        }
        let codes = set
            .iter()
            .map(|t| tags_code(Some(t)) as i32)
            .collect::<HashSet<i32>>();
        TagFilter {
            tags: Some(set),
            codes,
            exact: true,
        }
    }

    /// A subscription expression as the client writes it: `*`, or tags joined by `||`.
    pub fn parse(expression: &str) -> TagFilter {
        let e = expression.trim();
        if e.is_empty() || e == "*" {
            return TagFilter::all();
        }
        TagFilter::new(e.split("||"))
    }

    /// Matches on the tags code alone, as Java's broker does (a tag whose hash collides with a
    /// subscribed one is returned).
    pub fn codes_only(mut self) -> TagFilter {
        self.exact = false;
        self
    }

    /// Whether this is `*`.
    pub fn is_all(&self) -> bool {
        self.tags.is_none()
    }

    /// The subscribed tags (none for `*`).
    pub fn tags(&self) -> impl Iterator<Item = &str> {
        self.tags.iter().flat_map(|s| s.iter().map(String::as_str))
    }
}

impl MessageFilter for TagFilter {
    fn is_matched_by_consume_queue(&self, tags_code: i64) -> bool {
        match &self.tags {
            None => true,
            // `codeSet.contains(tagsCode.intValue())`.
            Some(_) => self.codes.contains(&(tags_code as i32)),
        }
    }

    fn is_matched_by_commit_log(&self, record: &StoredRecord) -> bool {
        let Some(tags) = &self.tags else {
            return true;
        };
        if !self.exact {
            return true;
        }
        match record.decode() {
            Ok(r) => {
                let p = StoreProperties::parse(r.properties);
                p.tags.as_deref().is_some_and(|t| tags.contains(t))
            }
            Err(_) => false,
        }
    }
}

impl<F: MessageFilter + ?Sized> MessageFilter for &F {
    fn is_matched_by_consume_queue(&self, tags_code: i64) -> bool {
        (**self).is_matched_by_consume_queue(tags_code)
    }
    fn is_matched_by_commit_log(&self, record: &StoredRecord) -> bool {
        (**self).is_matched_by_commit_log(record)
    }
}

impl<F: MessageFilter + ?Sized> MessageFilter for std::sync::Arc<F> {
    fn is_matched_by_consume_queue(&self, tags_code: i64) -> bool {
        (**self).is_matched_by_consume_queue(tags_code)
    }
    fn is_matched_by_commit_log(&self, record: &StoredRecord) -> bool {
        (**self).is_matched_by_commit_log(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_expression_parsing() {
        assert!(TagFilter::parse("").is_all());
        assert!(TagFilter::parse(" * ").is_all());
        let f = TagFilter::parse("A ||B|| ");
        let mut t: Vec<_> = f.tags().collect();
        t.sort();
        assert_eq!(t, ["A", "B"]);
        assert!(f.is_matched_by_consume_queue(tags_code(Some("B"))));
        // The int value of the code is compared: high bits are ignored as Java's intValue().
        assert!(f.is_matched_by_consume_queue(tags_code(Some("A")) + (1 << 32)));
        assert!(!f.is_matched_by_consume_queue(0));
    }
}
