//! The README's reference tables are generated from the code they describe.

#[test]
fn the_readme_lists_the_permission_of_every_rpc_and_every_setting() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let permissions = keyhaven_admin::permissions::markdown_table();
    assert!(
        readme.contains(&permissions),
        "README.md must contain the permission table:\n{permissions}"
    );
    let settings = keyhaven_server::config::markdown_table();
    assert!(
        readme.contains(&settings),
        "README.md must contain the configuration reference:\n{settings}"
    );
}
