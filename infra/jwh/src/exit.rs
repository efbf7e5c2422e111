//! Exit codes, the error every command can end with, and reading a body from a file or stdin.

use std::io::Read as _;
use std::path::Path;
use std::process::ExitCode;

/// How `jwh` exits. The codes are documented in `jwh --help`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// 0: the command did what was asked (the signature is valid, the body is an event, every send was 2xx).
    Success,
    /// 1: the answer is no, or the work failed (invalid signature, not an event, a non-2xx response, an AWS
    /// error).
    Failure,
    /// 2: the command was used wrongly (a bad or missing argument, an unreadable file, missing settings).
    Usage,
}

impl Exit {
    /// The process exit code.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Failure => 1,
            Exit::Usage => 2,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> ExitCode {
        ExitCode::from(exit.code())
    }
}

/// Why a command stopped. Messages never include a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CliError {
    /// A usage problem clap cannot see (an unreadable file, a missing setting): exit 2.
    #[error("{0}")]
    Usage(String),
    /// The work failed (AWS, the network): exit 1.
    #[error("{0}")]
    Failed(String),
}

impl CliError {
    /// The exit code this error ends the process with.
    pub fn exit(&self) -> Exit {
        match self {
            CliError::Usage(_) => Exit::Usage,
            CliError::Failed(_) => Exit::Failure,
        }
    }
}

/// Reads a body: the file at `path`, or stdin when `path` is absent or `-`. The bytes are kept exactly as read
/// (no trailing-newline trimming), since they are what gets signed.
pub fn read_body(path: Option<&Path>) -> Result<Vec<u8>, CliError> {
    match path {
        None => read_stdin(),
        Some(p) if p == Path::new("-") => read_stdin(),
        Some(p) => std::fs::read(p)
            .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", p.display()))),
    }
}

fn read_stdin() -> Result<Vec<u8>, CliError> {
    let mut body = Vec::new();
    std::io::stdin()
        .lock()
        .read_to_end(&mut body)
        .map_err(|e| CliError::Usage(format!("cannot read stdin: {e}")))?;
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            [Exit::Success, Exit::Failure, Exit::Usage].map(Exit::code),
            [0, 1, 2]
        );
        assert_eq!(CliError::Usage("x".into()).exit(), Exit::Usage);
        assert_eq!(CliError::Failed("x".into()).exit(), Exit::Failure);
    }

    #[test]
    fn unreadable_file_is_a_usage_error() {
        let err = read_body(Some(Path::new("/nonexistent/body.json"))).unwrap_err();
        assert_eq!(err.exit(), Exit::Usage);
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/body.json")
        );
    }
}
