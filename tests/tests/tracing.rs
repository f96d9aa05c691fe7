//! Traces and JSON logs, end to end: one evented commit makes one trace with spans from the
//! gateway, the coordinator and the fetcher (exported over OTLP/gRPC to a real in-test
//! collector), and every JSON log line of a job names its library and job.

use std::time::Duration;

use seaf_backup_tests::Primary;
use seaf_backup_tests::cluster::{Cluster, ClusterOptions};
use seaf_backup_tests::otlp::{Collector, SpanRecord};
use serde_json::Value;

const CONVERGE: Duration = Duration::from_secs(90);

fn find<'a>(spans: &'a [SpanRecord], service: &str, name: &str, trace: &str) -> Option<&'a SpanRecord> {
    spans.iter().find(|s| s.service == service && s.name == name && s.trace_id == trace)
}

/// The JSON objects of a log, every line of which must be one.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a log line that is not JSON ({e}): {l}")))
        .collect()
}

/// The fields of the span named `name` around a JSON log line.
fn span_of<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

#[test]
fn one_evented_commit_is_one_trace_across_gateway_coordinator_and_fetcher() {
    let dir = tempfile::tempdir().unwrap();
    let collector = Collector::start();
    let mut primary = Primary::generate(dir.path(), &["--libraries", "1", "--seed", "71"]);
    primary.serve(&[]);
    let tracing = format!("log_format = \"json\"\notlp_endpoint = \"{}\"", collector.endpoint);
    let opts = ClusterOptions { fetchers: 1, tracing: Some(tracing), ..Default::default() };
    let c = Cluster::start(dir.path(), primary, &opts);
    c.wait_converged(CONVERGE);
    let repo = c.primary_heads().into_keys().next().unwrap();

    c.commit_with_events(&["--count", "1"]).assert_ok();
    c.wait_converged(CONVERGE);
    let head = c.branch_heads()[&repo].clone();

    // The gateway's notify span is the root; its trace must reach the publish.
    let mut trace = String::new();
    c.wait_for("the evented commit's trace at the collector", Duration::from_secs(30), || {
        let spans = collector.spans();
        let Some(root) = spans.iter().find(|s| {
            s.service == "seaf-backup-gateway" && s.name == "notify" && s.attributes.get("library") == Some(&repo)
        }) else {
            return false;
        };
        trace = root.trace_id.clone();
        ["notify", "lease", "report"].iter().all(|n| find(&spans, "seaf-backup-coordinator", n, &trace).is_some())
            && find(&spans, "seaf-backup-fetcher", "job", &trace).is_some()
    });
    let spans = collector.spans();
    let in_trace: Vec<&SpanRecord> = spans.iter().filter(|s| s.trace_id == trace).collect();
    let gw = find(&spans, "seaf-backup-gateway", "notify", &trace).unwrap();
    let notify = find(&spans, "seaf-backup-coordinator", "notify", &trace).unwrap();
    let lease = find(&spans, "seaf-backup-coordinator", "lease", &trace).unwrap();
    let job = find(&spans, "seaf-backup-fetcher", "job", &trace).unwrap();
    let report = find(&spans, "seaf-backup-coordinator", "report", &trace).unwrap();
    let names: Vec<String> = in_trace.iter().map(|s| format!("{}:{}", s.service, s.name)).collect();
    assert!(gw.parent_span_id.is_empty(), "the gateway's span is not the root: {gw:?}");
    // Each hop is the child of the one before: gRPC metadata, then the job kept in Redis, then
    // the lease, then the report's metadata.
    assert_eq!(notify.parent_span_id, gw.span_id, "coordinator notify ← gateway notify ({names:?})");
    assert_eq!(lease.parent_span_id, notify.span_id, "lease ← notify ({names:?})");
    assert_eq!(job.parent_span_id, lease.span_id, "fetcher job ← lease ({names:?})");
    assert_eq!(report.parent_span_id, job.span_id, "report ← fetcher job ({names:?})");
    assert_eq!(job.attributes.get("library"), Some(&repo), "{job:?}");
    assert_eq!(lease.attributes.get("job"), job.attributes.get("job"), "one job id in the lease and the job");
    for phase in ["history", "durability_barrier"] {
        let s =
            find(&spans, "seaf-backup-fetcher", phase, &trace).unwrap_or_else(|| panic!("no {phase} span: {names:?}"));
        assert_eq!(s.parent_span_id, job.span_id, "{phase} ← job");
    }
    assert_eq!(
        find(&spans, "seaf-backup-fetcher", "history", &trace).unwrap().attributes.get("head"),
        Some(&head),
        "the history span names the head that was published"
    );

    // JSON logs: every line parses, and each line of the job carries its library and job id.
    let job_id = job.attributes["job"].clone();
    let fetcher = json_lines(&c.log("fetcher-0"));
    for msg in ["job started", "head published"] {
        let line = fetcher
            .iter()
            .find(|l| l["message"] == msg && span_of(l, "job").is_some_and(|s| s["job"] == job_id.as_str()))
            .unwrap_or_else(|| panic!("no {msg:?} line of job {job_id} in the fetcher's JSON log"));
        assert_eq!(span_of(line, "job").unwrap()["library"], repo.as_str(), "{line}");
    }
    for l in fetcher.iter().filter(|l| span_of(l, "job").is_some()) {
        let s = span_of(l, "job").unwrap();
        assert!(
            s["library"].as_str().is_some_and(|v| v.len() == 36) && s["job"].as_str().is_some_and(|v| !v.is_empty()),
            "a job's line without its library or job id: {l}"
        );
    }
    let coordinator = json_lines(&c.log("coordinator"));
    let leased = coordinator
        .iter()
        .find(|l| l["message"] == "job leased" && span_of(l, "lease").is_some_and(|s| s["job"] == job_id.as_str()))
        .unwrap_or_else(|| panic!("no \"job leased\" line of job {job_id} in the coordinator's JSON log"));
    assert_eq!(span_of(leased, "lease").unwrap()["library"], repo.as_str());
    json_lines(&c.log("gateway"));
}
