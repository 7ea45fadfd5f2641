//! Controller-mode broker identity (5.x; Java `store.ha.autoswitch.BrokerMetadata` and
//! `TempBrokerMetadata`, written by the broker's `ReplicasManager`):
//!
//! * `<root>/brokerIdentity` (`MessageStoreConfig#getStorePathBrokerIdentity`): the text
//!   `clusterName#brokerName#brokerId`, written once the controller confirmed the id;
//! * `<root>/brokerIdentity-temp`: `clusterName#brokerName#brokerId#registerCheckCode` while
//!   the broker applies for an id (the check code is `brokerAddress;currentTimeMillis`); removed
//!   when the id is confirmed.
//!
//! Both are UTF-8 without a line end. `MetadataFile#writeToFile` deletes the file before
//! `MixAll.string2File`, so no `.bak` is left. Java reads them with `split("#")` (trailing
//! empty fields dropped) and `Long.valueOf` for the id, and treats them as present only when
//! every field is non-empty (`isLoaded`). Everything here reads; nothing is written.

use std::path::Path;

use crate::error::{Result, StoreError};

/// The file names under the store root.
pub const FILE_NAME: &str = "brokerIdentity";
pub const TEMP_FILE_NAME: &str = "brokerIdentity-temp";

/// One of the two files, as Java decodes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokerIdentity {
    /// `brokerIdentity` or `brokerIdentity-temp`.
    pub file: String,
    /// The first field.
    pub cluster_name: String,
    /// The second field.
    pub broker_name: String,
    /// The third field, the id the controller assigned (or, in `-temp`, applied for).
    pub broker_id: i64,
    /// `brokerIdentity-temp` only: `brokerAddress;timeMillis` sent with the id application.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_check_code: Option<String>,
}

/// Java `String#split("#")`: trailing empty fields are dropped.
fn java_split(text: &str) -> Vec<&str> {
    let mut parts: Vec<&str> = text.split('#').collect();
    while parts.len() > 1 && parts.last() == Some(&"") {
        parts.pop();
    }
    if parts == [""] {
        parts.clear();
    }
    parts
}

/// Decodes the text of `brokerIdentity` (`temp == false`) or `brokerIdentity-temp`. An error
/// says why Java's `decodeFromStr` would throw or `isLoaded` would say no.
pub fn parse(text: &str, temp: bool) -> std::result::Result<BrokerIdentity, String> {
    let parts = java_split(text);
    let want = if temp { 4 } else { 3 };
    let shape = if temp {
        "clusterName#brokerName#brokerId#registerCheckCode"
    } else {
        "clusterName#brokerName#brokerId"
    };
    if parts.len() < want {
        return Err(format!(
            "{} field(s) where Java reads {want} ({shape}): {text:?}",
            parts.len()
        ));
    }
    // Long.valueOf: an optional sign and decimal digits, nothing else (no spaces, no line end).
    let id_text = parts[2];
    let digits = id_text.strip_prefix(['+', '-']).unwrap_or(id_text);
    let broker_id = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        id_text.parse::<i64>().ok()
    } else {
        None
    }
    .ok_or_else(|| format!("broker id {id_text:?} is not a number Java's Long.valueOf takes"))?;
    for (name, v) in [("cluster name", parts[0]), ("broker name", parts[1])] {
        if v.is_empty() {
            return Err(format!(
                "empty {name}: Java does not take the file as loaded"
            ));
        }
    }
    let register_check_code = if temp {
        if parts[3].is_empty() {
            return Err("empty register check code: Java does not take the file as loaded".into());
        }
        Some(parts[3].to_string())
    } else {
        None
    };
    Ok(BrokerIdentity {
        file: if temp { TEMP_FILE_NAME } else { FILE_NAME }.to_string(),
        cluster_name: parts[0].to_string(),
        broker_name: parts[1].to_string(),
        broker_id,
        register_check_code,
    })
}

fn read_one(root: &Path, temp: bool) -> Result<Option<BrokerIdentity>> {
    let path = root.join(if temp { TEMP_FILE_NAME } else { FILE_NAME });
    if !path.exists() {
        return Ok(None);
    }
    let bytes = super::read_all(&path)?;
    let text = String::from_utf8(bytes).map_err(|e| StoreError::BadFile {
        path: path.clone(),
        what: format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
    })?;
    parse(&text, temp)
        .map(Some)
        .map_err(|what| StoreError::BadFile { path, what })
}

/// Reads `root/brokerIdentity`; `None` when there is none (not in controller mode).
pub fn read(root: &Path) -> Result<Option<BrokerIdentity>> {
    read_one(root, false)
}

/// Reads `root/brokerIdentity-temp`; `None` when there is none (no id application pending).
pub fn read_temp(root: &Path) -> Result<Option<BrokerIdentity>> {
    read_one(root, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_as_java_decodes() {
        let id = parse("DefaultCluster#broker-a#1", false).unwrap();
        assert_eq!(
            (id.cluster_name.as_str(), id.broker_name.as_str(), id.broker_id),
            ("DefaultCluster", "broker-a", 1)
        );
        let t = parse("c#b#2#127.0.0.1:10911;1700000000000", true).unwrap();
        assert_eq!(
            t.register_check_code.as_deref(),
            Some("127.0.0.1:10911;1700000000000")
        );
        // Long.valueOf refuses a line end; split drops trailing empty fields.
        assert!(parse("c#b#1\n", false).unwrap_err().contains("broker id"));
        assert!(parse("c#b#", false).unwrap_err().contains("2 field"));
        assert!(parse("", false).unwrap_err().contains("0 field"));
        assert!(parse("#b#1", false).unwrap_err().contains("cluster name"));
        assert!(parse("c#b#1", true).unwrap_err().contains("3 field"));
        assert!(parse("c#b#x1", false).is_err());
        assert_eq!(parse("c#b#+7", false).unwrap().broker_id, 7);
    }
}
