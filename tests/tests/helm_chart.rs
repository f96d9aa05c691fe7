//! The Helm chart: `tests/helm.sh` lints it, renders it with several value sets, validates every
//! manifest against the Kubernetes API schemas and checks what must and must not be rendered.

#[test]
fn helm_chart_passes_lint_render_and_schema_checks() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let ran = seaf_backup_tests::Cmd::new("bash")
        .args([root.join("tests/helm.sh")])
        .timeout(std::time::Duration::from_secs(300))
        .run();
    assert!(ran.ok(), "tests/helm.sh failed ({:?})\n{}\n{}", ran.code, ran.stdout, ran.stderr);
    assert!(ran.stdout.contains("helm chart: all checks passed"), "{}", ran.stdout);
}
