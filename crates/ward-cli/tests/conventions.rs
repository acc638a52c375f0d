//! The CLI conventions people bring from kubectl, Helm, Terraform and Conftest, on the
//! example estate: `-o yaml` is the JSON document as YAML, an output a command lacks exits
//! 2, `plan --detailed-exitcode`, `check --fail-on-warn`, "did you mean", completion
//! scripts a shell accepts, and `ward version -o json`.

mod support;
use std::path::Path;
use support::*;

/// The example estate, rendered once into `deploy/` and committed as is.
struct Setup {
    _tmp: tempfile::TempDir,
    estate: std::path::PathBuf,
    deploy: std::path::PathBuf,
    empty_store: std::path::PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    let deploy = tmp.path().join("deploy");
    let empty_store = tmp.path().join("empty-store");
    std::fs::create_dir_all(&empty_store).expect("mkdir");
    let (code, out, err) = ward(
        &estate,
        "erin",
        &["render", "--out", deploy.to_str().expect("utf8")],
    );
    assert_eq!(code, 0, "{out}{err}");
    Setup {
        _tmp: tmp,
        estate,
        deploy,
        empty_store,
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf8")
}

/// Every command that has JSON and runs without a database, with its arguments.
fn documented_commands(s_: &Setup) -> Vec<Vec<String>> {
    let deploy = s(&s_.deploy).to_string();
    let store = s(&s_.empty_store).to_string();
    let dry = s_.deploy.parent().expect("tmp").join("dry");
    [
        vec!["validate"],
        vec!["classify"],
        vec!["classify", "billing"],
        vec!["explain", "billing/prod"],
        vec!["check"],
        vec!["controls"],
        vec!["controls", "WARD-DP-006"],
        vec!["render", "--out", s(&dry), "--dry-run"],
        vec!["plan", "--against", &deploy],
        vec!["audit", "log"],
        vec!["audit", "verify"],
        vec!["audit", "head"],
        vec!["backup", "list", "--repo", &store],
        vec!["version"],
    ]
    .into_iter()
    .map(|a| a.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn yaml_output_is_the_json_document_for_every_command_that_has_json() {
    let s_ = setup();
    for args in documented_commands(&s_) {
        let run = |output: &str| {
            let mut a: Vec<&str> = args.iter().map(String::as_str).collect();
            a.extend(["-o", output]);
            let (code, out, err) = ward(&s_.estate, "erin", &a);
            assert_eq!(code, 0, "{a:?}: {out}{err}");
            out
        };
        let json: serde_json::Value =
            serde_json::from_str(&run("json")).unwrap_or_else(|e| panic!("{args:?} -o json: {e}"));
        let text = run("yaml");
        let yaml: serde_json::Value = yaml_serde::from_str(&text)
            .unwrap_or_else(|e| panic!("{args:?} -o yaml is not YAML: {e}\n{text}"));
        assert_eq!(
            yaml, json,
            "{args:?}: -o yaml differs from -o json:\n{text}"
        );
    }
}

#[test]
fn an_output_a_command_lacks_exits_2_and_names_those_it_has() {
    let s_ = setup();
    let deploy = s(&s_.deploy);
    let store = s(&s_.empty_store);
    let cases: &[(&[&str], &str, &str)] = &[
        (&["classify"], "sarif", "classify"),
        (&["validate"], "wide", "validate"),
        (&["explain", "billing/prod"], "junit", "explain"),
        (&["check"], "wide", "check"),
        (&["controls"], "sarif", "controls"),
        (&["controls"], "junit", "controls"),
        (&["render", "--out", "x", "--dry-run"], "sarif", "render"),
        (&["plan", "--against", deploy], "wide", "plan"),
        (&["audit", "log"], "sarif", "audit log"),
        (&["audit", "verify"], "wide", "audit verify"),
        (&["backup", "list", "--repo", store], "junit", "backup list"),
        (&["backup", "verify", "x"], "wide", "backup verify"),
        (&["restore", "x", "--to-zip", "x.zip"], "sarif", "restore"),
        (&["drill", "billing/prod"], "wide", "drill"),
        (&["version"], "wide", "version"),
        (&["completion", "bash"], "json", "completion"),
    ];
    for (args, output, name) in cases {
        let mut a = args.to_vec();
        a.extend(["-o", output]);
        let (code, out, err) = ward(&s_.estate, "erin", &a);
        assert_eq!(code, 2, "{a:?} exits 2: {out}{err}");
        let said = format!("{out}{err}");
        assert!(
            said.contains(&format!("`ward {name}` has no `{output}` output")),
            "{a:?}: {said}"
        );
        assert!(said.contains("-o text"), "names the outputs it has: {said}");
        if *output != "json" {
            assert!(out.is_empty(), "{a:?} printed nothing on stdout: {out}");
        }
    }
    // The ones a command has still work: wide tables, and check's CI formats.
    for (args, output) in [
        (vec!["classify"], "wide"),
        (vec!["audit", "log"], "wide"),
        (vec!["backup", "list", "--repo", store], "wide"),
        (vec!["check"], "sarif"),
        (vec!["check"], "junit"),
    ] {
        let mut a = args.clone();
        a.extend(["-o", output]);
        let (code, out, err) = ward(&s_.estate, "erin", &a);
        assert_eq!(code, 0, "{a:?}: {out}{err}");
    }
}

#[test]
fn the_default_table_fits_100_columns_and_wide_shows_the_rest() {
    let s_ = setup();
    let (code, narrow, _) = ward(&s_.estate, "erin", &["classify"]);
    assert_eq!(code, 0);
    let (code, wide, _) = ward(&s_.estate, "erin", &["classify", "-o", "wide"]);
    assert_eq!(code, 0);
    for line in narrow.lines() {
        assert!(line.chars().count() <= 100, "over 100 columns: {line}");
    }
    assert!(!narrow.contains("MIN REPLICAS"), "{narrow}");
    let header = wide.lines().next().expect("header");
    for column in [
        "RECOVERY CLUSTER",
        "MIN REPLICAS",
        "MIN ZONES",
        "DRILL EVERY",
    ] {
        assert!(header.contains(column), "wide lacks {column}: {header}");
    }
    let billing = wide
        .lines()
        .find(|l| l.starts_with("billing/prod"))
        .expect("billing row");
    assert!(
        billing.contains("recovery-eu2") && billing.contains("14d"),
        "{billing}"
    );

    // The ledger's commits: 12 characters by default, whole in wide.
    let commit = git_head(&s_.estate);
    let (_, log, _) = ward(&s_.estate, "erin", &["audit", "log"]);
    assert!(
        log.contains(&commit[..12]) && !log.contains(&commit),
        "{log}"
    );
    let (_, log, _) = ward(&s_.estate, "erin", &["audit", "log", "-o", "wide"]);
    assert!(log.contains(&commit), "{log}");
}

#[test]
fn plan_detailed_exitcode_is_0_without_changes_2_with_and_1_on_error() {
    let s_ = setup();
    let deploy = s(&s_.deploy);
    let args = ["plan", "--against", deploy, "--detailed-exitcode"];
    let (code, out, err) = ward(&s_.estate, "erin", &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("nothing to do"), "{out}");
    // Without the flag a plan with changes exits 0, with it 2.
    let billing = s_.estate.join("workloads/billing.yaml");
    let text = std::fs::read_to_string(&billing).expect("read");
    std::fs::write(&billing, text.replace("replicas: 3", "replicas: 4")).expect("write");
    commit_as(&s_.estate, "dave", "billing: four replicas");
    let (code, out, err) = ward(&s_.estate, "erin", &["plan", "--against", deploy]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = ward(&s_.estate, "erin", &args);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("to change"), "{out}");
    let (code, _, _) = ward(&s_.estate, "erin", &[&args[..], &["-o", "json"]].concat());
    assert_eq!(code, 2);
    // Any error is 1, never 2 (which means changes here) or 3.
    let (code, _, err) = ward(&s_.estate, "erin", &["plan", "--detailed-exitcode"]);
    assert_eq!(code, 1, "{err}");
    let missing = [
        "plan",
        "--against-git",
        "no-such-ref",
        "--detailed-exitcode",
    ];
    let (code, _, err) = ward(&s_.estate, "erin", &missing);
    assert_eq!(code, 1, "{err}");
}

#[test]
fn a_bare_plan_names_both_ways_to_give_the_tree() {
    let s_ = setup();
    let (code, out, err) = ward(&s_.estate, "erin", &["plan"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("--against DIR") && err.contains("--against-git REF"),
        "{err}"
    );
}

#[test]
fn check_fail_on_warn_exits_1_on_warnings_only_when_asked() {
    let s_ = setup();
    let (code, out, err) = ward(&s_.estate, "erin", &["check", "-o", "json"]);
    assert_eq!(code, 0, "{out}{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("json");
    let warnings = report["summary"]["warn"].as_u64().expect("warn count");
    assert_eq!(
        report["summary"]["deny"], 0,
        "the example has no deny finding"
    );
    assert!(warnings > 0, "the example has warnings to fail on");
    let (code, out, err) = ward(&s_.estate, "erin", &["check", "--fail-on-warn"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        out.contains(&format!("FAILED: {warnings} warning(s)")),
        "{out}"
    );
    let (code, _, _) = ward(
        &s_.estate,
        "erin",
        &["check", "--fail-on-warn", "-o", "sarif"],
    );
    assert_eq!(code, 1);
}

#[test]
fn typed_names_get_a_did_you_mean() {
    let s_ = setup();
    let cases: &[(&[&str], &str)] = &[
        (&["explain", "biling"], "did you mean `billing`?"),
        (&["explain", "biling/prod"], "did you mean `billing/prod`?"),
        (
            &["classify", "care-coordinaton"],
            "did you mean `care-coordination`?",
        ),
        (
            &["explain", "billing/nowhere-near"],
            "billing has prod, staging",
        ),
        (
            &["backup", "list", "patient-portl/prod"],
            "did you mean `patient-portal/prod`?",
        ),
        (&["controls", "WARD-DG-01"], "did you mean `WARD-DG-001`"),
        (&["controls", "ward-dp-06"], "did you mean `WARD-DP-006`"),
    ];
    for (args, want) in cases {
        let (code, out, err) = ward(&s_.estate, "erin", args);
        assert_eq!(code, 2, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?} lacks {want}: {err}");
    }
}

#[test]
fn a_waiver_for_an_unknown_control_fails_validate_with_a_suggestion() {
    let s_ = setup();
    std::fs::write(
        s_.estate.join("waivers.yaml"),
        "apiVersion: ward.dev/v1\nkind: Waiver\nmetadata:\n  name: pinned-later\nspec:\n  \
         control: WARD-DG-01\n  scope: { workload: training-sandbox, environment: sandbox }\n  \
         reason: Training only\n  approver: carol\n  created: 2026-11-01\n  expires: 2027-01-31\n",
    )
    .expect("write waiver");
    let (code, out, err) = ward(&s_.estate, "erin", &["validate"]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("waivers.yaml:6:12")
            && err.contains("waiver pinned-later names `WARD-DG-01`, which is not a control")
            && err.contains("did you mean `WARD-DG-001`"),
        "{err}"
    );
    let (code, out, _) = ward(&s_.estate, "erin", &["validate", "-o", "json"]);
    assert_eq!(code, 2);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["error"], "invalid-estate");
    assert_eq!(v["diagnostics"][0]["line"], 6);
    // A waiver of the estate's own policy is left to WARD-DG-008, which sees the policies.
    let text = std::fs::read_to_string(s_.estate.join("waivers.yaml")).expect("read");
    std::fs::write(
        s_.estate.join("waivers.yaml"),
        text.replace("WARD-DG-01", "policy:ward.user.pins.deny"),
    )
    .expect("write");
    let (code, out, err) = ward(&s_.estate, "erin", &["validate"]);
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn completion_scripts_are_accepted_by_their_shells() {
    let tmp = tempfile::tempdir().expect("tempdir");
    for shell in ["bash", "zsh", "fish"] {
        let (code, out, err) = ward(tmp.path(), "erin", &["completion", shell]);
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("backup") && out.contains("detailed-exitcode"),
            "{shell}"
        );
        let script = tmp.path().join(format!("ward.{shell}"));
        std::fs::write(&script, &out).expect("write");
        // bash is always there; zsh and fish are checked when installed.
        let check = match shell {
            "bash" => std::process::Command::new("bash")
                .arg("-n")
                .arg(&script)
                .output(),
            other => std::process::Command::new(other)
                .arg("-n")
                .arg(&script)
                .output(),
        };
        match check {
            Ok(o) => assert!(
                o.status.success(),
                "{shell} -n rejects the script: {}",
                String::from_utf8_lossy(&o.stderr)
            ),
            Err(_) if shell != "bash" => eprintln!("{shell} not installed; syntax not checked"),
            Err(e) => panic!("bash: {e}"),
        }
    }
}

#[test]
fn version_says_what_was_built() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (code, out, err) = ward(tmp.path(), "erin", &["version", "-o", "json"]);
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert!(v["target"].as_str().is_some_and(|t| t.contains('-')), "{v}");
    let (code, out, _) = ward(tmp.path(), "erin", &["version"]);
    assert_eq!(code, 0);
    assert!(
        out.starts_with(&format!("ward {}", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let s_ = setup();
    // Tests run with NO_COLOR and a pipe: no escape codes, in stdout or in errors.
    let (_, out, _) = ward(&s_.estate, "erin", &["check"]);
    assert!(!out.contains('\x1b'), "{out}");
    let (_, _, err) = ward(&s_.estate, "erin", &["explain", "biling"]);
    assert!(!err.contains('\x1b'), "{err}");
    // --color always wins over NO_COLOR and a pipe; warn is yellow.
    let (_, out, _) = ward(&s_.estate, "erin", &["check", "--color", "always"]);
    assert!(out.contains("\x1b[33mwarn\x1b[0m"), "{out}");
    let (_, out, _) = ward(&s_.estate, "erin", &["check", "--color", "never"]);
    assert!(!out.contains('\x1b'));
}

#[test]
fn quiet_and_verbose_change_stderr_only() {
    let s_ = setup();
    let (code, out, err) = ward(&s_.estate, "erin", &["-v", "validate"]);
    assert_eq!(code, 0);
    assert!(err.contains("estate ") && err.contains("7 files"), "{err}");
    let (code, quiet_out, err) = ward(&s_.estate, "erin", &["-q", "validate"]);
    assert_eq!(code, 0);
    assert_eq!(quiet_out, out);
    assert!(err.is_empty(), "{err}");
    // An informational line (where keygen wrote the key) goes with -q; the key stays.
    let key = s_.deploy.parent().expect("tmp").join("k.ed25519");
    let args = ["-q", "backup", "keygen", "billing/prod", "--out", s(&key)];
    let (code, out, err) = ward(&s_.estate, "erin", &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("ed25519:"), "{out}");
    assert!(err.is_empty(), "{err}");
    let (code, _, _) = ward(&s_.estate, "erin", &["-q", "-v", "validate"]);
    assert_eq!(code, 2, "-q and -v conflict");
}
