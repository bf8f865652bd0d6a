//! The example scenarios of `examples/`, built into the binary so that a
//! new server can show something at once (`serve --seed-examples`).

/// (file stem, TOML text) of each example.
pub const EXAMPLES: &[(&str, &str)] = &[
    (
        "llama-70b-fp8-rented-h100-vs-gpt-4o-mini",
        include_str!("../../examples/llama-70b-fp8-rented-h100-vs-gpt-4o-mini.toml"),
    ),
    (
        "llama-8b-l4-vs-gemini-flash",
        include_str!("../../examples/llama-8b-l4-vs-gemini-flash.toml"),
    ),
    (
        "deepseek-v3-owned-h200-vs-claude-sonnet",
        include_str!("../../examples/deepseek-v3-owned-h200-vs-claude-sonnet.toml"),
    ),
    (
        "hybrid-overflow",
        include_str!("../../examples/hybrid-overflow.toml"),
    ),
    (
        "fine-tune-vs-prompting",
        include_str!("../../examples/fine-tune-vs-prompting.toml"),
    ),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_example_file_is_built_in_and_parses() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .filter_map(|e| {
                let name = e.unwrap().file_name().to_string_lossy().to_string();
                name.strip_suffix(".toml").map(str::to_string)
            })
            .collect();
        files.sort();
        let mut built_in: Vec<String> = EXAMPLES.iter().map(|(n, _)| n.to_string()).collect();
        built_in.sort();
        assert_eq!(files, built_in);
        for (name, text) in EXAMPLES {
            super::super::Scenario::from_toml(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
