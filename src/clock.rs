//! Time: an injectable clock (so tests control store timestamps, file names and cleanup hours)
//! and the local-time formatting Java uses for index file names.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// A source of wall-clock milliseconds since the Unix epoch.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_millis(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }
}

/// A clock that only moves when told to; clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// A clock standing at `start_millis`.
    pub fn new(start_millis: i64) -> Self {
        ManualClock(Arc::new(AtomicI64::new(start_millis)))
    }
    /// Sets the time.
    pub fn set(&self, millis: i64) {
        self.0.store(millis, Ordering::SeqCst);
    }
    /// Moves the time forward by `millis`.
    pub fn advance(&self, millis: i64) {
        self.0.fetch_add(millis, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// Broken-down local time, as the process's time zone (`TZ`) sees `millis`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// Year.
    pub year: i32,
    /// Month, 1 to 12.
    pub month: u32,
    /// Day of the month, 1 to 31.
    pub day: u32,
    /// Hour, 0 to 23.
    pub hour: u32,
    /// Minute, 0 to 59.
    pub minute: u32,
    /// Second, 0 to 59.
    pub second: u32,
    /// Milliseconds, 0 to 999.
    pub millis: u32,
}

/// Converts epoch milliseconds to local time with the C library's `localtime_r`, which honours
/// `TZ` as the JVM's default time zone does.
pub fn local_time(millis: i64) -> LocalTime {
    let secs = millis.div_euclid(1000) as libc::time_t;
    let ms = millis.rem_euclid(1000) as u32;
    // SAFETY: `tm` is a plain C struct for which all-zero bytes are a valid value, and
    // localtime_r only writes into the `tm` we pass; both pointers are valid for the call.
    let tm = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        if libc::localtime_r(&secs, &mut tm).is_null() {
            return LocalTime {
                year: 1970,
                month: 1,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                millis: 0,
            };
        }
        tm
    };
    LocalTime {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        millis: ms,
    }
}

/// Epoch milliseconds of a local wall-clock time (`TZ`, as [`local_time`] reads it), via
/// `mktime`; `None` for an out-of-range field or a time `mktime` cannot represent. A time in a
/// daylight-saving gap or overlap resolves as `mktime` resolves it.
pub fn local_to_millis(year: i32, month: u32, day: u32, hour: u32, minute: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    // SAFETY: all-zero bytes are a valid `tm`; mktime reads and normalizes only the struct we
    // own for the duration of the call.
    let secs = unsafe {
        let mut tm: libc::tm = std::mem::zeroed();
        tm.tm_year = year - 1900;
        tm.tm_mon = month as i32 - 1;
        tm.tm_mday = day as i32;
        tm.tm_hour = hour as i32;
        tm.tm_min = minute as i32;
        tm.tm_isdst = -1;
        let t = libc::mktime(&mut tm);
        if t == -1 && !(tm.tm_year == 69 && tm.tm_mon == 11 && tm.tm_mday == 31) {
            return None;
        }
        if tm.tm_mday != day as i32 || tm.tm_mon != month as i32 - 1 {
            return None; // e.g. February 30th was normalized into March
        }
        t
    };
    Some(secs as i64 * 1000)
}

/// `UtilAll.timeMillisToHumanString`: `yyyyMMddHHmmssSSS` in local time, the name Java gives
/// an index file when it creates it.
pub fn time_millis_to_human_string(millis: i64) -> String {
    let t = local_time(millis);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

/// A human-readable local time with milliseconds, `yyyy-MM-dd HH:mm:ss,SSS`, as Java's
/// `UtilAll.timeMillisToHumanString2` prints checkpoint values.
pub fn human_time(millis: i64) -> String {
    let t = local_time(millis);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02},{:03}",
        t.year, t.month, t.day, t.hour, t.minute, t.second, t.millis
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5);
        let c2 = c.clone();
        c.advance(10);
        assert_eq!(c2.now_millis(), 15);
        c.set(1);
        assert_eq!(c2.now_millis(), 1);
        assert!(SystemClock.now_millis() > 1_600_000_000_000);
    }

    #[test]
    fn local_to_millis_round_trips() {
        let ms = local_to_millis(2026, 3, 14, 4, 0).unwrap();
        let t = local_time(ms);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.minute),
            (2026, 3, 14, 4, 0)
        );
        assert!(local_to_millis(2026, 2, 30, 4, 0).is_none());
        assert!(local_to_millis(2026, 1, 1, 24, 0).is_none());
    }

    #[test]
    fn human_string_has_17_digits() {
        let s = time_millis_to_human_string(1_795_613_836_424);
        assert_eq!(s.len(), 17);
        assert!(s.chars().all(|c| c.is_ascii_digit()));
        assert!(s.ends_with("424"));
    }
}
