//! `schema`: the JSON Schema of the configuration, as published in the repository.

use crate::{Failure, Output};
use clap::Args;

/// Print the JSON Schema (draft-07) of the plugin configuration.
///
/// The same as envoy/jwt-policy.schema.json; its member names are checked against the
/// parser's. It cannot see everything validate does (keys that do not decode, regexes that
/// do not compile, names of providers that do not exist): run validate too.
#[derive(Args)]
pub struct SchemaArgs {}

pub fn schema(_: &SchemaArgs) -> Result<Output, Failure> {
    let text =
        serde_json::to_string_pretty(&jwt_policy::schema::schema()).map_err(|e| e.to_string())?;
    Ok(Output::success(text))
}
