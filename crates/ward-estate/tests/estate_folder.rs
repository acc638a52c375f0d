//! What the loader reads: the estate is the folder with a `Platform` document at its top,
//! minus the state folder, deploy trees, `.wardignore`d paths and non-Ward documents.

mod support;
use support::*;
use ward_estate::LoadError;

fn not_an_estate(dir: &std::path::Path) -> String {
    match ward_estate::load(dir) {
        Err(e @ LoadError::NotAnEstate { .. }) => e.to_string(),
        Ok(_) => panic!("{} loaded as an estate", dir.display()),
        Err(e) => panic!("{}: expected `not an estate`, got {e:?}", dir.display()),
    }
}

#[test]
fn the_folder_above_an_estate_is_not_an_estate() {
    let parent = tempfile::tempdir().expect("tempdir");
    let estate = example();
    std::fs::rename(estate.path(), parent.path().join("estate")).expect("move the estate");
    write(
        parent.path(),
        "docker-compose.yml",
        "services: {db: {image: postgres}}\n",
    );
    let message = not_an_estate(parent.path());
    assert!(message.contains("is not an estate"), "{message}");
    assert!(message.contains("Platform"), "{message}");
    assert!(!message.contains('\n'), "one line: {message}");
}

#[test]
fn folders_without_a_platform_at_their_top_are_not_estates() {
    // Empty; only other YAML; a Platform of another API group; a Platform one level down.
    let empty = tempfile::tempdir().expect("tempdir");
    not_an_estate(empty.path());
    let other = tempfile::tempdir().expect("tempdir");
    write(
        other.path(),
        "values.yaml",
        "replicas: 3\npassword: hunter2\n",
    );
    write(
        other.path(),
        "deploy.yaml",
        "apiVersion: apps/v1\nkind: Deployment\n",
    );
    not_an_estate(other.path());
    let foreign = tempfile::tempdir().expect("tempdir");
    write(
        foreign.path(),
        "platform.yaml",
        "apiVersion: example.com/v1\nkind: Platform\nmetadata: {name: p}\nspec: {}\n",
    );
    not_an_estate(foreign.path());
    let nested = tempfile::tempdir().expect("tempdir");
    write(
        nested.path(),
        "sub/platform.yaml",
        std::fs::read(example_dir().join("platform.yaml")).expect("platform"),
    );
    not_an_estate(nested.path());
}

#[test]
fn a_deploy_tree_is_not_an_estate() {
    let dir = example();
    write(dir.path(), "ward-tree.json", "{}\n");
    let message = not_an_estate(dir.path());
    assert!(message.contains("deploy tree"), "{message}");
}

#[test]
fn a_broken_platform_file_is_still_reported_as_an_estate_problem() {
    let dir = example();
    std::fs::write(
        dir.path().join("platform.yaml"),
        "apiVersion: ward.dev/v1\nkind: Platform\nmetadata: [unclosed\n",
    )
    .expect("write");
    let p = problems(dir.path());
    find(&p, "invalid YAML");
}

#[test]
fn documents_that_are_not_ward_dev_v1_are_skipped_with_a_warning() {
    let dir = example();
    write(
        dir.path(),
        "k8s/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec:\n  template:\n    spec:\n      automountServiceAccountToken: false\n      containers: [{name: x, env: [{name: PGPASSWORD, value: hunter2}]}]\n---\nreplicas: 3\n---\n- just\n- a list\n---\nplain text\n",
    );
    write(
        dir.path(),
        "charts/values.yml",
        "apiVersion: v1\nkind: ConfigMap\ndata: {token: \"not-read\"}\n",
    );
    let estate = load_ok(dir.path());
    assert_eq!(estate.workloads.len(), 4);
    let w = flatten(&estate.sources, &estate.warnings);
    let seen: Vec<_> = w.iter().map(|x| x.location.as_str()).collect();
    // Path order, then position; one warning per document, at its `apiVersion` if it has
    // one; nothing about credentials.
    assert_eq!(
        seen,
        [
            "charts/values.yml:1:13",
            "k8s/deployment.yaml:1:13",
            "k8s/deployment.yaml:10:1",
            "k8s/deployment.yaml:12:1",
            "k8s/deployment.yaml:15:1",
        ],
        "{w:#?}"
    );
    assert!(w[0].message.contains("apiVersion `v1`"), "{:?}", w[0]);
    assert!(w[1].message.contains("apiVersion `apps/v1`"), "{:?}", w[1]);
    assert!(w[2].message.contains("no `apiVersion`"), "{:?}", w[2]);
    assert!(w.iter().all(|x| x.message.contains("skipped")), "{w:#?}");
    assert!(
        w.iter().all(|x| !x.message.contains("credential")),
        "{w:#?}"
    );
    assert!(w[0].hint.contains(".wardignore"), "{:?}", w[0]);
}

#[test]
fn ward_documents_of_another_version_or_without_one_are_errors_not_skipped() {
    let dir = example();
    write(
        dir.path(),
        "teams/future.yaml",
        "apiVersion: ward.dev/v2\nkind: Team\nmetadata: {name: future}\nspec: {people: []}\n---\nkind: Workload\nmetadata: {name: w}\nspec: {}\n",
    );
    let p = problems(dir.path());
    let e = find(&p, "unsupported apiVersion `ward.dev/v2`");
    assert_eq!(e.location, "teams/future.yaml:1:13");
    let e = find(&p, "missing field `document.apiVersion`");
    assert!(e.location.starts_with("teams/future.yaml:6:"), "{e:?}");
}

#[test]
fn the_state_folder_and_deploy_trees_are_not_read() {
    let dir = example();
    let garbage = "apiVersion: ward.dev/v1\nkind: Team\nmetadata: [unclosed\npassword: hunter2\n";
    write(dir.path(), ".ward/ledger/x.yaml", garbage);
    write(dir.path(), "deploy/ward-tree.json", "{}\n");
    write(
        dir.path(),
        "deploy/prod/billing/Deployment-odoo.yaml",
        garbage,
    );
    write(dir.path(), "out/eu/ward-tree.json", "{}\n");
    write(dir.path(), "out/eu/kustomization.yaml", garbage);
    write(dir.path(), "out/eu/deep/er/x.yaml", garbage);
    let estate = load_ok(dir.path());
    assert!(
        estate.warnings.is_empty(),
        "{:#?}",
        flatten(&estate.sources, &estate.warnings)
    );
    assert!(
        estate
            .sources
            .files
            .iter()
            .all(|f| !f.name.starts_with("deploy/") && !f.name.starts_with("out/")),
        "a deploy tree was read"
    );
    // `out/` itself is still the estate's: only the folder holding the marker is skipped.
    write(dir.path(), "out/stray.yaml", garbage);
    find(&problems(dir.path()), "invalid YAML");
}

#[test]
fn wardignore_excludes_folders_and_files() {
    let dir = example();
    let garbage = "apiVersion: ward.dev/v1\nkind: Team\nmetadata: [unclosed\n";
    write(
        dir.path(),
        ".wardignore",
        "# generated and vendored files\n\nvendor/\n*.tmpl.yaml\n/docs/examples/\ncharts/*/templates\n  build/  \n",
    );
    for path in [
        "vendor/a.yaml",
        "workloads/vendor/b.yaml",
        "workloads/billing.tmpl.yaml",
        "docs/examples/c.yaml",
        "charts/odoo/templates/d.yaml",
        "build/e.yaml",
    ] {
        write(dir.path(), path, garbage);
    }
    let estate = load_ok(dir.path());
    assert_eq!(estate.workloads.len(), 4);
    // Anchored patterns hold at the root only; a folder pattern does not match a file.
    for (path, why) in [
        (
            "nested/docs/examples/c.yaml",
            "`/docs/examples/` is anchored",
        ),
        (
            "charts/odoo/more/templates/d.yaml",
            "`*` stays inside one segment",
        ),
        ("teams/old.yaml", "`old.yaml/` names folders only"),
    ] {
        let dir = example();
        write(
            dir.path(),
            ".wardignore",
            "vendor/\n/docs/examples/\ncharts/*/templates\nold.yaml/\n",
        );
        write(dir.path(), path, garbage);
        let p = problems(dir.path());
        assert!(
            p.iter()
                .any(|x| x.location.starts_with(&format!("{path}:"))),
            "{path} was ignored, but {why}: {p:#?}"
        );
    }
}

#[test]
fn wardignore_lines_it_cannot_honour_are_errors_with_their_line() {
    let dir = example();
    write(
        dir.path(),
        ".wardignore",
        "ok/\n!keep.yaml\nsrc/**/gen\nfile[0-9].yaml\na//b\nvendor/  # trailing comment\n",
    );
    let p = problems(dir.path());
    for (line, needle) in [
        (2, "!keep.yaml"),
        (3, "src/**/gen"),
        (4, "file[0-9].yaml"),
        (5, "a//b"),
        (6, "vendor/  # trailing comment"),
    ] {
        let e = in_file(&p, &format!(".wardignore:{line}:"));
        assert!(e.message.contains(needle), "{e:?}");
    }
    assert!(
        !p.iter().any(|x| x.location.starts_with(".wardignore:1:")),
        "{p:#?}"
    );
}
