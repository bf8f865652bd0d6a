//! Scenario files on the command line: read with the library's TOML loader
//! before any call, and the server's complaints about them traced back to
//! their lines.

use std::path::{Path, PathBuf};

use tonic::{Code, Status};
use tonic_types::StatusExt as _;

use super::exit::Failure;
use crate::error::Error;
use crate::grpc::pb;
use crate::tco::Scenario;

/// A scenario file that parsed.
#[derive(Debug, Clone)]
pub struct ScenarioFile {
    pub path: PathBuf,
    pub text: String,
    /// The scenario as the library reads it, defaults filled in.
    pub scenario: Scenario,
    /// The same scenario as the API takes it.
    pub wire: pb::Scenario,
}

impl ScenarioFile {
    /// Reads and parses `path`; a file that cannot be read or parsed is a
    /// usage error naming the line and the field.
    pub fn read(path: &Path) -> Result<ScenarioFile, Failure> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
        let in_file = |err: Error| match err {
            Error::InvalidArgument(violations) => Failure::Usage(
                violations
                    .iter()
                    .map(|v| format!("{}: {}: {}", path.display(), v.field, v.description))
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            other => Failure::Usage(format!("{}: {other}", path.display())),
        };
        let scenario = Scenario::from_toml(&text).map_err(in_file)?;
        let wire = pb::Scenario::try_from(&scenario).map_err(in_file)?;
        Ok(ScenarioFile {
            path: path.to_path_buf(),
            text,
            scenario,
            wire,
        })
    }

    /// A call's failure with each invalid `scenario.…` field the server
    /// names given with the line of this file that sets it. The status code,
    /// and so the exit code, is unchanged.
    pub fn locate(&self, failure: Failure) -> Failure {
        let Failure::Status(status) = failure else {
            return failure;
        };
        let details = status.get_error_details();
        let Some(bad) = details
            .bad_request()
            .filter(|_| status.code() == Code::InvalidArgument)
        else {
            return Failure::Status(status);
        };
        let lines: Vec<String> = bad
            .field_violations
            .iter()
            .map(|v| {
                let at = v
                    .field
                    .strip_prefix("scenario.")
                    .and_then(|field| line_of(&self.text, field))
                    .map(|line| format!("line {line}: "))
                    .unwrap_or_default();
                format!(
                    "{}: {at}{}: {}",
                    self.path.display(),
                    v.field,
                    v.description
                )
            })
            .collect();
        if lines.is_empty() {
            return Failure::Status(status);
        }
        Failure::Status(Status::new(status.code(), lines.join("\n")))
    }
}

/// The 1-based line that sets `field` (a path such as
/// `self_host.deployment.owned.pue` or `api.volume_discounts[1].discount`),
/// or the header of its table when the key is left out. Reads table headers
/// and keys line by line, which is all scenario files use.
pub fn line_of(text: &str, field: &str) -> Option<usize> {
    let (table, key) = field.rsplit_once('.').unwrap_or(("", field));
    let (table, index) = match table.strip_suffix(']').and_then(|t| t.rsplit_once('[')) {
        Some((name, i)) => (name, i.parse::<usize>().ok()?),
        None => (table, 0),
    };
    let mut current = String::new();
    let mut occurrence = 0;
    let mut header = None;
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        let heading = line
            .strip_prefix("[[")
            .and_then(|rest| rest.split_once("]]"))
            .or_else(|| line.strip_prefix('[').and_then(|rest| rest.split_once(']')))
            .map(|(name, _)| name.trim());
        if let Some(name) = heading {
            if name == table {
                occurrence += 1;
            }
            current = name.to_string();
            if name == table && occurrence == index + 1 {
                header = Some(number + 1);
            }
            continue;
        }
        let in_table = current == table && (table.is_empty() || occurrence == index + 1);
        let sets_key = line
            .strip_prefix(key)
            .is_some_and(|rest| rest.trim_start().starts_with('='));
        if in_table && sets_key {
            return Some(number + 1);
        }
    }
    header
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "\
name = \"x\"
start_month = \"2025-01\"

[api]
price_id = \"gpt-4o-mini\"

[[api.volume_discounts]]
discount = 0.1

[[api.volume_discounts]]
discount = 2

[self_host]
model = \"llama\"
[self_host.deployment.owned]
pue = 0.5
";

    #[test]
    fn fields_are_found_on_their_lines() {
        let check = |field: &str, line: Option<usize>| {
            assert_eq!(line_of(FILE, field), line, "{field}");
        };
        check("start_month", Some(2));
        check("api.price_id", Some(5));
        check("api.volume_discounts[0].discount", Some(8));
        check("api.volume_discounts[1].discount", Some(11));
        check("self_host.model", Some(14));
        check("self_host.deployment.owned.pue", Some(16));
        // Left out: the table's header.
        check("self_host.gpu", Some(13));
        check("workload.input_tokens", None);
        check("horizon_months", None);
    }
}
