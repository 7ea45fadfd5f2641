//! Findings: what an inspection found, where, how bad it is and what to do about it.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// A fact worth knowing; nothing to repair.
    Info,
    /// Something a broker's own recovery repairs, or a hazard that needs attention.
    Warning,
    /// Damage or an inconsistency that loses or hides messages.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One thing an inspection found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// How bad it is.
    pub severity: Severity,
    /// Machine-readable kind, kebab-case (e.g. `body-crc`, `dispatch-behind`).
    pub kind: &'static str,
    /// The file the finding is about (absent only for store-wide facts).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    /// Byte offset inside `file`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// What was found, in words.
    pub message: String,
    /// What to do about it, when there is something to do.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

impl Finding {
    /// A finding of `kind` (a stable key for tools) with `message`.
    pub fn new(severity: Severity, kind: &'static str, message: impl Into<String>) -> Finding {
        Finding {
            severity,
            kind,
            file: None,
            offset: None,
            message: message.into(),
            action: None,
        }
    }

    /// At byte `offset` of `file`.
    pub fn at(mut self, file: impl AsRef<Path>, offset: u64) -> Finding {
        self.file = Some(file.as_ref().to_path_buf());
        self.offset = Some(offset);
        self
    }

    /// About `file` as a whole.
    pub fn file(mut self, file: impl AsRef<Path>) -> Finding {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }

    /// Adds what the operator can do about it.
    pub fn action(mut self, action: impl Into<String>) -> Finding {
        self.action = Some(action.into());
        self
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:<7} {}", self.severity, self.kind)?;
        match (&self.file, self.offset) {
            (Some(p), Some(o)) => write!(f, "  {} @ {o}", p.display())?,
            (Some(p), None) => write!(f, "  {}", p.display())?,
            _ => {}
        }
        write!(f, ": {}", self.message)?;
        if let Some(a) = &self.action {
            write!(f, " (do: {a})")?;
        }
        Ok(())
    }
}

/// A list of findings with counting helpers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Findings(pub Vec<Finding>);

impl Findings {
    /// Adds a finding.
    pub fn push(&mut self, f: Finding) {
        self.0.push(f);
    }
    /// The findings, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Finding> {
        self.0.iter()
    }
    /// How many findings of severity `s`.
    pub fn count(&self, s: Severity) -> usize {
        self.0.iter().filter(|f| f.severity == s).count()
    }
    /// Any finding of severity error.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
    /// The most severe finding's severity, if any.
    pub fn worst(&self) -> Option<Severity> {
        self.0.iter().map(|f| f.severity).max()
    }
    /// Findings of one kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Finding> + 'a {
        self.0.iter().filter(move |f| f.kind == kind)
    }
    /// Number of findings.
    pub fn len(&self) -> usize {
        self.0.len()
    }
    /// No findings.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}
