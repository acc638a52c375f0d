//! Hostile approvals, end to end with the real `ward`, `git` and `ssh-keygen`: a change
//! never supplies the keys that approve it, its authors (from Git, or from signatures when
//! the platform asks for them) never approve it, approvals bind commits, and the controls
//! gate `ward apply` as well as the approvals.

use std::collections::BTreeMap;
use std::path::PathBuf;

mod support;
use support::*;

const PEOPLE: [(&str, &str); 5] = [
    ("alice", "platform-ops"),
    ("bob", "dba"),
    ("carol", "security-reviewer"),
    ("dave", "app-support"),
    ("erin", "app-support"),
];

struct World {
    _tmp: tempfile::TempDir,
    estate: PathBuf,
    deploy: PathBuf,
    keys: BTreeMap<&'static str, PathBuf>,
    public: BTreeMap<&'static str, String>,
}

impl World {
    fn deploy_arg(&self) -> &str {
        self.deploy.to_str().expect("utf8")
    }

    fn plan(&self) -> serde_json::Value {
        plan_json(&self.estate, &self.deploy)
    }

    fn id(&self) -> String {
        change_id(&self.estate, &self.deploy).0
    }

    /// Signs `id` as each `(name, key of)` pair: the name written in the file, the key
    /// that actually signs.
    fn approve(&self, id: &str, entries: &[(&str, &str)]) {
        let sigs: Vec<(String, String)> = entries
            .iter()
            .map(|(by, key)| (by.to_string(), sign(&self.keys[key], "ward-approval", id)))
            .collect();
        let refs: Vec<(&str, &str)> = sigs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        write_approvals(&self.estate, id, &refs);
    }

    fn apply(&self, actor: &str) -> (i32, String, String) {
        ward(&self.estate, actor, &["apply", "--out", self.deploy_arg()])
    }

    fn apply_json(&self, actor: &str) -> (i32, serde_json::Value, String) {
        let (code, out, err) = ward(
            &self.estate,
            actor,
            &["apply", "--out", self.deploy_arg(), "-o", "json"],
        );
        let v = serde_json::from_str(&out).unwrap_or(serde_json::Value::Null);
        (code, v, format!("{out}{err}"))
    }

    fn edit(&self, file: &str, from: &str, to: &str) {
        let path = self.estate.join(file);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains(from), "{file} holds `{from}`");
        std::fs::write(&path, text.replacen(from, to, 1)).expect("write");
    }

    fn ledger(&self) -> String {
        std::fs::read_to_string(self.estate.join(".ward/ledger.jsonl")).unwrap_or_default()
    }
}

/// An example estate whose people have SSH keys, committed, and a deploy tree applied
/// once (trust on first use, approved by alice and carol): from here on the deploy tree
/// records the reviewed estate commit.
fn world() -> Option<World> {
    if !has_ssh_keygen() {
        eprintln!("ssh-keygen not on PATH; skipped");
        return None;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let estate = init_example(tmp.path());
    let keydir = tmp.path().join("keys");
    std::fs::create_dir_all(&keydir).expect("mkdir");
    let mut keys = BTreeMap::new();
    let mut public = BTreeMap::new();
    for (name, role) in PEOPLE {
        let (key, pubkey) = keygen(&keydir, name);
        // Erin (app-support, in teams/apps.yaml) writes changes; her key is in no Team.
        if name != "erin" {
            add_ssh_key_to(&estate.join("teams/platform.yaml"), name, role, &pubkey);
        }
        keys.insert(name, key);
        public.insert(name, pubkey);
    }
    git(&estate, &["add", "-A"]);
    git(&estate, &["commit", "-qm", "keys"]);
    let w = World {
        deploy: tmp.path().join("deploy"),
        estate,
        _tmp: tmp,
        keys,
        public,
    };
    let plan = w.plan();
    assert_eq!(plan["review"]["trust"], "first-use", "{}", plan["review"]);
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("carol", "carol")]);
    let (code, applied, out) = w.apply_json("erin");
    assert_eq!(code, 0, "{out}");
    assert_eq!(applied["review"]["trust"], "first-use");
    assert!(
        w.ledger().contains("\"first-use\""),
        "the ledger says the first apply was trusted on first use"
    );
    let record: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(w.deploy.join("ward-tree.json")).expect("ward-tree.json"),
    )
    .expect("record json");
    assert_eq!(record["estateCommit"], git_head(&w.estate).as_str());
    Some(w)
}

/// A tier-1 production change: billing/prod gets four web replicas.
fn tier1_change(w: &World) {
    w.edit("workloads/billing.yaml", "replicas: 3", "replicas: 4");
}

#[test]
fn an_author_cannot_approve_their_change_by_swapping_keys_in_it() {
    let Some(w) = world() else { return };
    let base = git_head(&w.estate);
    // Erin writes a tier-1 change and replaces alice's and bob's keys with her own.
    tier1_change(&w);
    let team = "teams/platform.yaml";
    w.edit(team, &w.public["alice"], &w.public["erin"]);
    w.edit(team, &w.public["bob"], &w.public["erin"]);

    // Uncommitted: refused whatever is signed.
    let id = w.id();
    w.approve(&id, &[("alice", "erin"), ("bob", "erin")]);
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("uncommitted"), "{err}");

    // Committed: the keys that verify are the reviewed state's, so her signatures fail.
    commit_as(&w.estate, "erin", "billing: four replicas");
    let plan = w.plan();
    assert_eq!(plan["review"]["base"], base.as_str());
    assert_eq!(plan["review"]["trust"], "reviewed");
    let id = plan["plan"]["changeId"].as_str().expect("id").to_string();
    w.approve(&id, &[("alice", "erin"), ("bob", "erin")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    assert_eq!(v["applied"], false);
    let rejected = v["rejected"].to_string();
    assert!(
        rejected.contains("alice")
            && rejected.contains("bob")
            && rejected.contains("does not verify"),
        "{rejected}"
    );
    // Changing keys is itself a change for a security reviewer.
    let reasons = plan["plan"]["requirement"]["reasons"].to_string();
    assert!(reasons.contains("people, roles or keys"), "{reasons}");
    assert!(
        plan["plan"]["requirement"]["roles"]
            .as_array()
            .expect("roles")
            .contains(&serde_json::json!("security-reviewer"))
    );

    // A shadow Team of her own, added in the change, approves nothing either.
    std::fs::write(
        w.estate.join("teams/shadow.yaml"),
        format!(
            "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: shadow\nspec:\n  people:\n    - name: zed\n      email: zed@care.example\n      roles: [platform-ops, security-reviewer]\n      keys: {{ ssh: \"{}\" }}\n    - name: yan\n      email: yan@care.example\n      roles: [security-reviewer]\n      keys: {{ ssh: \"{}\" }}\n",
            w.public["erin"], w.public["dave"]
        ),
    )
    .expect("shadow team");
    commit_as(&w.estate, "erin", "a team of my own");
    let id = w.id();
    w.approve(&id, &[("zed", "erin"), ("yan", "dave")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    assert!(
        v["rejected"]
            .to_string()
            .contains("not a person of any Team of the reviewed state"),
        "{}",
        v["rejected"]
    );
    assert!(
        !w.deploy
            .join("dedicated-eu1/billing-prod/deployment-odoo-web.yaml")
            .is_file_and_contains("replicas: 4")
    );
}

trait Contains {
    fn is_file_and_contains(&self, needle: &str) -> bool;
}

impl Contains for PathBuf {
    fn is_file_and_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(self).is_ok_and(|t| t.contains(needle))
    }
}

#[test]
fn authors_and_committers_never_approve_whatever_actor_runs_apply() {
    let Some(w) = world() else { return };
    // Alice writes the change; her approval does not count, and --actor cannot change that.
    tier1_change(&w);
    commit_as(&w.estate, "alice", "billing: four replicas");
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    for actor in ["erin", "bob", "dave"] {
        let (code, _, err) = w.apply(actor);
        assert_eq!(code, 1, "{actor}: {err}");
        assert!(err.contains("alice wrote this change"), "{err}");
    }
    // Only alice holds platform-ops, so this change cannot be approved while she wrote it:
    // a commit by someone else on top does not make alice less an author.
    w.edit("workloads/billing.yaml", "replicas: 4", "replicas: 5");
    commit_as(&w.estate, "dave", "billing: five replicas");
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    let authors = v["review"]["authors"].to_string();
    assert!(
        authors.contains("alice") && authors.contains("dave"),
        "{authors}"
    );

    // A committer is an author too: bob commits a change authored by someone else.
    let w = world().expect("world");
    tier1_change(&w);
    let email = "bob@care.example";
    git_as(&w.estate, "bob", email, &["add", "-A"]);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&w.estate)
        .args(["commit", "-qm", "billing: four replicas"])
        .env("GIT_AUTHOR_NAME", "Outsider")
        .env("GIT_AUTHOR_EMAIL", "outsider@example.invalid")
        .env("GIT_COMMITTER_NAME", "Bob Okafor")
        .env("GIT_COMMITTER_EMAIL", "BOB@care.example")
        .output()
        .expect("git commit");
    assert!(out.status.success());
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("bob wrote this change"), "{err}");
    // Alice and carol, who wrote nothing, may.
    w.approve(&id, &[("alice", "alice"), ("carol", "carol")]);
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn approvals_bind_commits_and_never_replay() {
    let Some(w) = world() else { return };
    tier1_change(&w);
    commit_as(&w.estate, "dave", "billing: four replicas");
    let id = w.id();
    assert_eq!(id.len(), 64, "a full SHA-256");
    // Adding the approvals file, uncommitted and then committed, leaves the change-id.
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    assert_eq!(
        w.id(),
        id,
        "an uncommitted approvals file is not part of the change"
    );
    commit_as(&w.estate, "carol", "approvals");
    assert_eq!(
        w.id(),
        id,
        "a committed approvals file is not part of the change"
    );
    // Carol committed only approvals: she is not an author.
    let plan = w.plan();
    assert!(
        !plan["review"]["authors"].to_string().contains("carol"),
        "{}",
        plan["review"]["authors"]
    );
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");

    // Back to three replicas, applied; then four again: the same transition of the tree,
    // but from another base, so the first approvals do not replay.
    w.edit("workloads/billing.yaml", "replicas: 4", "replicas: 3");
    commit_as(&w.estate, "dave", "billing: three replicas");
    let back = w.id();
    w.approve(&back, &[("alice", "alice"), ("bob", "bob")]);
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
    tier1_change(&w);
    commit_as(&w.estate, "dave", "billing: four replicas again");
    let again = w.id();
    assert_ne!(again, id, "the same transition recurring is a new change");
    assert!(w.estate.join(format!("approvals/{id}.yaml")).is_file());
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "the old approvals do not replay: {err}");

    // A file outside approvals/ left uncommitted stops a change that needs approvals.
    w.approve(&again, &[("alice", "alice"), ("bob", "bob")]);
    std::fs::write(w.estate.join("workloads/notes.txt"), "scratch").expect("write");
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("uncommitted") && err.contains("notes.txt"),
        "{err}"
    );
    std::fs::remove_file(w.estate.join("workloads/notes.txt")).expect("rm");
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
}

#[test]
fn a_change_to_people_needs_a_security_reviewer_with_the_old_keys() {
    let Some(w) = world() else { return };
    // Carol's key is rotated: the deploy tree does not change, the people do.
    let keydir = w.estate.parent().expect("tmp").join("keys");
    let (new_key, new_public) = keygen(&keydir, "carol-2027");
    w.edit("teams/platform.yaml", &w.public["carol"], &new_public);
    commit_as(&w.estate, "dave", "rotate carol's key");
    let plan = w.plan();
    assert_eq!(plan["plan"]["changes"], serde_json::json!([]));
    assert!(
        plan["plan"]["peopleChanges"]
            .to_string()
            .contains("person carol: ssh key changes"),
        "{}",
        plan["plan"]
    );
    assert_eq!(plan["plan"]["requirement"]["approvals"], 1);
    assert_eq!(
        plan["plan"]["requirement"]["roles"],
        serde_json::json!(["security-reviewer"])
    );
    let id = plan["plan"]["changeId"].as_str().expect("id").to_string();
    // Refused without approval; with the new key, which the reviewed state does not hold.
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    let sig = sign(&new_key, "ward-approval", &id);
    write_approvals(&w.estate, &id, &[("carol", &sig)]);
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "the new key approves nothing yet: {err}");
    assert!(err.contains("does not verify"), "{err}");
    // With the old key: applied, and the next change is verified with the new one.
    w.approve(&id, &[("carol", "carol")]);
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
    let record = std::fs::read_to_string(w.deploy.join("ward-tree.json")).expect("record");
    assert!(
        record.contains(&git_head(&w.estate)),
        "the record moves to the key rotation"
    );

    // A person added with a role, and a role granted, need the same review.
    w.edit(
        "teams/platform.yaml",
        "roles: [app-support]\n",
        "roles: [app-support, platform-ops]\n",
    );
    commit_as(&w.estate, "erin", "dave becomes platform-ops");
    let plan = w.plan();
    assert!(
        plan["plan"]["peopleChanges"]
            .to_string()
            .contains("person dave: roles changes"),
        "{}",
        plan["plan"]["peopleChanges"]
    );
    let id = plan["plan"]["changeId"].as_str().expect("id").to_string();
    let sig = sign(&new_key, "ward-approval", &id);
    write_approvals(&w.estate, &id, &[("carol", &sig)]);
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "carol's new key now verifies: {out}{err}");
}

#[test]
fn one_key_approves_once_even_under_two_names() {
    let Some(w) = world() else { return };
    // Dave's key becomes bob's (a reviewed change, approved by carol).
    w.edit("teams/platform.yaml", &w.public["dave"], &w.public["bob"]);
    commit_as(&w.estate, "erin", "dave shares bob's key");
    let id = w.id();
    w.approve(&id, &[("carol", "carol")]);
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
    // A tier-1 change approved by alice, and "bob" and "dave" signing with one key: two
    // names, one key, so alice and one more, which is still two; with dave and bob alone
    // (no alice) it is one approval and no platform-ops.
    tier1_change(&w);
    commit_as(&w.estate, "erin", "billing: four replicas");
    let id = w.id();
    w.approve(&id, &[("bob", "bob"), ("dave", "bob")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    assert!(
        v["rejected"].to_string().contains("same key as bob"),
        "{}",
        v["rejected"]
    );
    assert!(
        v["unmet"].to_string().contains("has 1"),
        "one key counts once: {}",
        v["unmet"]
    );
}

#[test]
fn signed_commits_when_the_platform_requires_them() {
    let Some(w) = world() else { return };
    w.edit(
        "platform.yaml",
        "    requireSignedCommits: false\n",
        "    requireSignedCommits: true\n",
    );
    commit_as(&w.estate, "erin", "require signed commits");
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("carol", "carol")]);
    let (code, _, err) = w.apply("erin");
    // This very commit is unsigned: the setting holds from the reviewed state on, and the
    // commit that turns it on is judged by it once it is the target's.
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("carries no good SSH signature"), "{err}");

    // Signed by dave with his Team key, claiming to be someone else: dave is the author.
    let sign_commit = |who: &str, message: &str| {
        let key = w.keys[who].to_str().expect("utf8").to_string();
        let out = std::process::Command::new("git")
            .arg("-C")
            .arg(&w.estate)
            .args([
                "-c",
                "gpg.format=ssh",
                "-c",
                &format!("user.signingkey={key}"),
                "commit",
                "-S",
                "--allow-empty",
                "-qm",
                message,
            ])
            .env("GIT_AUTHOR_NAME", "Carol Lindqvist")
            .env("GIT_AUTHOR_EMAIL", "carol@care.example")
            .env("GIT_COMMITTER_NAME", "Carol Lindqvist")
            .env("GIT_COMMITTER_EMAIL", "carol@care.example")
            .output()
            .expect("git commit -S");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The unsigned commit is rewritten as a signed one, with a tier-1 change beside it.
    git(&w.estate, &["reset", "-q", "--soft", "HEAD~1"]);
    tier1_change(&w);
    git(&w.estate, &["add", "-A"]);
    sign_commit(
        "dave",
        "require signed commits; billing: four replicas (signed)",
    );
    let plan = w.plan();
    let authors = plan["review"]["authors"].to_string();
    assert!(authors.contains("signer dave"), "{authors}");
    let id = plan["plan"]["changeId"].as_str().expect("id").to_string();
    w.approve(&id, &[("alice", "alice"), ("dave", "dave")]);
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("dave wrote this change"), "{err}");
    w.approve(&id, &[("alice", "alice"), ("carol", "carol")]);
    let (code, out, err) = w.apply("erin");
    // Carol is named as the Git author, but the signature says dave: her approval counts.
    assert_eq!(code, 0, "{out}{err}");

    // A commit signed by a key that is no Team key proves nothing.
    let keydir = w.estate.parent().expect("tmp").join("keys");
    let (stranger, _) = keygen(&keydir, "stranger");
    w.edit("workloads/billing.yaml", "replicas: 4", "replicas: 5");
    git(&w.estate, &["add", "-A"]);
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(&w.estate)
        .args([
            "-c",
            "gpg.format=ssh",
            "-c",
            &format!("user.signingkey={}", stranger.display()),
            "commit",
            "-S",
            "-qm",
            "billing: four replicas",
        ])
        .output()
        .expect("git commit -S");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("carol", "carol")]);
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("carries no good SSH signature"), "{err}");
}

#[test]
fn apply_is_gated_by_the_controls_of_the_environments_it_touches() {
    let Some(w) = world() else { return };
    // An unpinned image from a registry outside the baseline, in tier-1 PHI production.
    let text = std::fs::read_to_string(w.estate.join("workloads/billing.yaml")).expect("read");
    let image = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("image: "))
        .expect("billing's image")
        .to_string();
    w.edit("workloads/billing.yaml", &image, "docker.io/odoo:17.0");
    commit_as(&w.estate, "dave", "billing: upstream image");
    let plan = w.plan();
    let blocking = plan["check"]["blocking"].as_array().expect("blocking");
    assert!(!blocking.is_empty(), "{}", plan["check"]);
    assert!(
        blocking
            .iter()
            .all(|f| f["severity"] == "deny" && f["workload"] == "billing"),
        "{blocking:?}"
    );
    let (code, text_out, _) = ward(&w.estate, "erin", &["plan", "--against", w.deploy_arg()]);
    assert_eq!(code, 0);
    assert!(text_out.contains("WARD-DG-001"), "{text_out}");
    assert!(
        text_out.contains("refuses it until they are fixed or waived"),
        "{text_out}"
    );

    // Complete approvals do not override the controls.
    let id = w.id();
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    assert_eq!(v["applied"], false);
    assert_eq!(v["unmet"], serde_json::json!([]));
    assert!(v["check"]["blocking"].to_string().contains("WARD-DG-001"));
    let web = w
        .deploy
        .join("dedicated-eu1/billing-prod/deployment-odoo-web.yaml");
    assert!(
        !web.is_file_and_contains("docker.io/odoo:17.0"),
        "nothing written"
    );
    let (_, _, err) = w.apply("erin");
    assert!(err.contains("the controls deny"), "{err}");
    // The ledger records the refusal with the controls' verdict.
    let ledger = w.ledger();
    let last = ledger.lines().last().expect("an entry");
    assert!(
        last.contains("\"denied\"") && last.contains("WARD-DG-001"),
        "{last}"
    );

    // A change to another environment is not held up by billing's findings.
    w.edit("workloads/billing.yaml", "docker.io/odoo:17.0", &image);
    commit_as(&w.estate, "dave", "billing: back to the pinned image");
    w.edit(
        "workloads/training-sandbox.yaml",
        "size: { cpu: 1,",
        "size: { cpu: 2,",
    );
    commit_as(&w.estate, "dave", "sandbox: two replicas");
    let plan = w.plan();
    assert_eq!(
        plan["check"]["blocking"],
        serde_json::json!([]),
        "{}",
        plan["check"]
    );
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
    let ledger = w.ledger();
    let last = ledger.lines().last().expect("an entry");
    assert!(
        last.contains("\"check\""),
        "the apply records the check: {last}"
    );
}

#[test]
fn a_symlinked_approvals_file_is_refused() {
    let Some(w) = world() else { return };
    tier1_change(&w);
    commit_as(&w.estate, "dave", "billing: four replicas");
    let id = w.id();
    // Valid signatures, kept outside the estate and linked in.
    w.approve(&id, &[("alice", "alice"), ("bob", "bob")]);
    let inside = w.estate.join(format!("approvals/{id}.yaml"));
    let outside = w.estate.parent().expect("tmp").join("elsewhere.yaml");
    std::fs::rename(&inside, &outside).expect("move");
    std::os::unix::fs::symlink(&outside, &inside).expect("symlink");
    let (code, _, err) = w.apply("erin");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("not a regular file"), "{err}");
    let web = w
        .deploy
        .join("dedicated-eu1/billing-prod/deployment-odoo-web.yaml");
    assert!(!web.is_file_and_contains("replicas: 4"), "nothing written");
    // A folder where the file should be is refused the same way.
    std::fs::remove_file(&inside).expect("rm");
    std::fs::create_dir_all(&inside).expect("mkdir");
    let (code, _, err) = ward(&w.estate, "erin", &["plan", "--against", w.deploy_arg()]);
    assert_eq!(code, 2, "{err}");
}

#[test]
fn a_team_in_a_file_git_ignores_approves_nothing() {
    let Some(w) = world() else { return };
    // A reviewed change makes Git ignore `*.local.yaml` (no approval needed: nothing
    // renders differently), and the deploy tree moves to it.
    let ignore = w.estate.join(".gitignore");
    let text = std::fs::read_to_string(&ignore).expect(".gitignore");
    std::fs::write(&ignore, format!("{text}*.local.yaml\n")).expect("write");
    commit_as(&w.estate, "dave", "ignore local files");
    let (code, out, err) = w.apply("erin");
    assert_eq!(code, 0, "{out}{err}");
    // Now a Team that no commit holds: the loader reads it, Git does not show it, and
    // base and target are the same commit. It grants a role to a group (a widening
    // RBAC change) and lists a reviewer whose key is erin's.
    std::fs::write(
        w.estate.join("teams/shadow.local.yaml"),
        format!(
            "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: shadow\nspec:\n  groups:\n    security-reviewer: idp:shadow\n  people:\n    - name: zed\n      email: zed@care.example\n      roles: [security-reviewer, platform-ops]\n      keys: {{ ssh: \"{}\" }}\n",
            w.public["erin"]
        ),
    )
    .expect("shadow team");
    let plan = w.plan();
    assert_eq!(
        plan["review"]["base"], plan["review"]["target"],
        "{}",
        plan["review"]
    );
    assert!(
        plan["review"].get("uncommitted").is_none(),
        "Git shows nothing"
    );
    assert!(
        plan["plan"]["requirement"]["approvals"]
            .as_u64()
            .unwrap_or(0)
            > 0,
        "{}",
        plan["plan"]["requirement"]
    );
    let id = plan["plan"]["changeId"].as_str().expect("id").to_string();
    w.approve(&id, &[("zed", "erin")]);
    let (code, v, out) = w.apply_json("erin");
    assert_eq!(code, 1, "{out}");
    assert!(
        v["rejected"]
            .to_string()
            .contains("not a person of any Team of the reviewed state"),
        "{}",
        v["rejected"]
    );
}
