//! The RocketMQ version whose store semantics rmqstore emulates where 4.6.0 and 5.x differ
//! (`StoreConfig::target_version`, broker.properties key `rmqstoreTargetVersion`). Each rule it
//! decides is listed in `docs/format.md` §12.1.

use std::fmt;
use std::str::FromStr;

/// Which Java store's rules the write path follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum TargetVersion {
    /// Apache RocketMQ 4.6.0 (the default): V1 records only unless
    /// `autoMessageVersionOnTopicLen` is set, no `__CRC32#`, index hashSlotCount counted on
    /// every put.
    #[default]
    V4_6_0,
    /// Apache RocketMQ 5.3.3: `autoMessageVersionOnTopicLen` defaults to true (V2 records for
    /// topics longer than 127 characters), `enabledAppendPropCRC` honoured, and
    /// hashSlotCount counted only when a key takes an empty slot.
    V5_3_3,
}

impl TargetVersion {
    /// A 5.x target.
    pub fn is_5x(self) -> bool {
        self == TargetVersion::V5_3_3
    }
}

impl fmt::Display for TargetVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetVersion::V4_6_0 => "4.6.0",
            TargetVersion::V5_3_3 => "5.3.3",
        })
    }
}

impl FromStr for TargetVersion {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim() {
            "4" | "4.6" | "4.6.0" => Ok(TargetVersion::V4_6_0),
            "5" | "5.3" | "5.3.3" => Ok(TargetVersion::V5_3_3),
            other => Err(format!(
                "target version {other:?} is not one rmqstore emulates (4.6.0 or 5.3.3)"
            )),
        }
    }
}

impl crate::StoreConfig {
    /// This config with `v`'s semantics and its defaults for the 5.x-only settings
    /// (`autoMessageVersionOnTopicLen` is true in 5.x, absent in 4.6.0).
    pub fn with_target_version(mut self, v: TargetVersion) -> Self {
        self.target_version = v;
        self.auto_message_version_on_topic_len = v.is_5x();
        self.timer_wheel_enable = v.is_5x();
        if !v.is_5x() {
            self.enabled_append_prop_crc = false;
        }
        self
    }

    /// Does the write path append the 5.x `__CRC32#` property?
    pub fn appends_prop_crc(&self) -> bool {
        self.target_version.is_5x() && self.enabled_append_prop_crc
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_sets_5x_defaults() {
        assert_eq!("5.3.3".parse::<TargetVersion>(), Ok(TargetVersion::V5_3_3));
        assert_eq!("4.6.0".parse::<TargetVersion>(), Ok(TargetVersion::V4_6_0));
        assert!("4.9.8".parse::<TargetVersion>().is_err());
        let c = crate::StoreConfig::default().with_target_version(TargetVersion::V5_3_3);
        assert!(c.auto_message_version_on_topic_len && !c.appends_prop_crc());
        let mut c = c;
        c.enabled_append_prop_crc = true;
        assert!(c.appends_prop_crc());
        assert!(!c
            .with_target_version(TargetVersion::V4_6_0)
            .appends_prop_crc());
    }
}
