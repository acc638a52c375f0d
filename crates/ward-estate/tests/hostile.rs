//! Hostile input must not hurt: each case is refused with a clear diagnostic, never a
//! panic or a hang.

mod support;
use support::*;

#[test]
fn a_50_mb_file_is_refused_without_reading_it() {
    let dir = example();
    let f = std::fs::File::create(dir.path().join("huge.yaml")).expect("create");
    f.set_len(50 << 20).expect("set_len");
    let p = problems(dir.path());
    let e = find(&p, "this file is 52428800 bytes");
    assert_eq!(e.location, "huge.yaml:1:1");
    assert!(e.hint.contains("split"));
}

#[test]
fn deep_nesting_is_refused() {
    let dir = example();
    write(
        dir.path(),
        "deep.yaml",
        format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000)),
    );
    write(
        dir.path(),
        "deep-map.yaml",
        (0..200)
            .map(|i| format!("{}k{i}:\n", "  ".repeat(i)))
            .collect::<String>(),
    );
    let p = problems(dir.path());
    // Our own limit (64) or the parser's recursion limit, whichever trips first.
    for file in ["deep.yaml:", "deep-map.yaml:"] {
        let refused = p.iter().any(|x| {
            x.location.starts_with(file)
                && (x.message.contains("nested deeper than 64")
                    || x.message.contains("recursion limit"))
        });
        let seen: Vec<_> = p.iter().map(|x| (&x.location, &x.message)).collect();
        assert!(refused, "{file} not refused: {seen:?}");
    }
}

#[test]
fn an_alias_bomb_is_refused() {
    let dir = example();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    for (prev, name) in ["a", "b", "c", "d", "e", "f", "g", "h"]
        .iter()
        .zip(["b", "c", "d", "e", "f", "g", "h", "i"])
    {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{prev}"); 9].join(",")
        ));
    }
    write(dir.path(), "lol.yaml", bomb);
    let p = problems(dir.path());
    let e = find(&p, "YAML expands to more than");
    assert!(e.hint.contains("alias bomb"));
}

#[test]
fn non_utf8_bytes_are_refused_with_their_position() {
    let dir = example();
    write(
        dir.path(),
        "latin1.yaml",
        b"apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: caf\xe9\n".as_slice(),
    );
    let p = problems(dir.path());
    let e = find(&p, "not UTF-8");
    assert_eq!(e.location, "latin1.yaml:4:12");
}

#[test]
fn broken_yaml_is_located() {
    let dir = example();
    write(
        dir.path(),
        "broken.yaml",
        "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: [unclosed\nspec: {}\n",
    );
    let p = problems(dir.path());
    let e = find(&p, "invalid YAML");
    assert!(e.location.starts_with("broken.yaml:"), "{}", e.location);
}

#[test]
fn duplicate_keys_are_refused() {
    let dir = example();
    write(
        dir.path(),
        "dup.yaml",
        "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: x\n  name: y\nspec: {people: []}\n",
    );
    let p = problems(dir.path());
    let e = find(&p, "duplicate key `name`");
    assert_eq!(e.location, "dup.yaml:5:3");
}

#[test]
fn wrong_shapes_are_reported_not_panicked_on() {
    let dir = example();
    for (i, doc) in [
        "just a string",
        "- a\n- list",
        "apiVersion: ward.dev/v1\nkind: Workload\nmetadata: [1]\nspec: 3\n",
        "apiVersion: ward.dev/v1\nkind: Workload\nmetadata: {name: w, tenant: t}\nspec: {environments: {a: 1}, owner: [x]}\n",
        "apiVersion: ward.dev/v1\nkind: Platform\nmetadata: {name: p}\nspec: {clusters: [{name: c, role: shared, region: r, zones: z}]}\n",
        "? [complex, key]\n: value\n",
        "apiVersion: !!binary aGVsbG8=\nkind: Team\n",
        "*undefined_alias\n",
    ]
    .iter()
    .enumerate()
    {
        write(dir.path(), &format!("shape{i}.yaml"), doc);
    }
    // A document that is not a Ward document at all (a scalar, a list, a mapping without
    // `apiVersion`) is skipped with a warning; the others are errors.
    let mut p = problems(dir.path());
    p.extend(warnings(dir.path()));
    for i in 0..8 {
        assert!(
            p.iter()
                .any(|x| x.location.starts_with(&format!("shape{i}.yaml:"))),
            "shape{i} not reported: {p:#?}"
        );
    }
}

#[test]
fn symlinks_are_not_followed() {
    let dir = example();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("passwd.yaml")).expect("symlink");
    let p = problems(dir.path());
    let e = find(&p, "symbolic link");
    assert_eq!(e.location, "passwd.yaml:1:1");
}

#[test]
fn yaml_tags_outside_the_core_schema_are_refused_where_written() {
    // Each tag sits on line 4 of its own file, after `name: x` on line 3's key.
    let cases = [
        ("binary", "!!binary aGVsbG8=", "!!binary", 9),
        (
            "python",
            "!!python/object:os.system echo",
            "!!python/object:os.system",
            9,
        ),
        ("custom", "!custom value", "!custom", 9),
        ("local-map", "!thing {a: 1}", "!thing", 9),
        ("on-a-list", "!!set [a, b]", "!!set", 9),
        ("timestamp", "!!timestamp 2026-12-01", "!!timestamp", 9),
        (
            "verbatim",
            "!<tag:example.com:x> value",
            "tag:example.com:x",
            9,
        ),
    ];
    let dir = example();
    for (file, value, _, _) in &cases {
        write(
            dir.path(),
            &format!("tags/{file}.yaml"),
            format!(
                "apiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: {value}\nspec: {{people: []}}\n"
            ),
        );
    }
    // A redefined `!!` handle is not the core schema either.
    write(
        dir.path(),
        "tags/directive.yaml",
        "%TAG !! tag:evil.example,2026:\n---\napiVersion: ward.dev/v1\nkind: Team\nmetadata:\n  name: !!str x\nspec: {people: []}\n",
    );
    let p = problems(dir.path());
    for (file, _, tag, col) in &cases {
        let e = in_file(&p, &format!("tags/{file}.yaml"));
        assert_eq!(e.location, format!("tags/{file}.yaml:4:{col}"), "{e:?}");
        assert!(e.message.contains("YAML tag"), "{e:?}");
        assert!(e.message.contains(tag), "{file}: {e:?}");
    }
    let e = in_file(&p, "tags/directive.yaml");
    assert!(e.message.contains("YAML tag"), "{e:?}");
}

#[test]
fn core_schema_tags_are_accepted_and_str_makes_a_string() {
    let dir = example();
    edit(
        dir.path(),
        "workloads/billing.yaml",
        "version: \"17.0\"",
        "version: !!str 17.0",
    );
    write(
        dir.path(),
        "teams/tagged.yaml",
        "--- !!map\napiVersion: !!str ward.dev/v1\nkind: ! Team\nmetadata: !!map {name: !<tag:yaml.org,2002:str> tagged}\nspec: {people: !!seq [], groups: !!null}\n",
    );
    let estate = load_ok(dir.path());
    let billing = estate.workload("billing").expect("billing");
    assert_eq!(billing.spec.odoo.version.value, "17.0");
    assert!(estate.teams.iter().any(|t| t.name() == "tagged"));
}

#[test]
fn a_symlinked_folder_is_refused_like_a_symlinked_file() {
    let dir = example();
    let outside = tempfile::tempdir().expect("tempdir");
    write(outside.path(), "w.yaml", "apiVersion: ward.dev/v1\n");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("linked")).expect("symlink");
    std::os::unix::fs::symlink(outside.path(), dir.path().join("workloads/nested-link"))
        .expect("symlink");
    // A link to a folder whose name looks like a file is still a folder.
    std::os::unix::fs::symlink(outside.path(), dir.path().join("folder.yaml")).expect("symlink");
    let p = problems(dir.path());
    for name in ["linked", "workloads/nested-link", "folder.yaml"] {
        let e = in_file(&p, &format!("{name}:1:1"));
        assert!(e.message.contains("symbolic link"), "{e:?}");
    }
}

#[test]
fn a_symlinked_platform_file_is_refused_as_a_link_not_as_no_estate() {
    let dir = example();
    let outside = tempfile::tempdir().expect("tempdir");
    std::fs::rename(
        dir.path().join("platform.yaml"),
        outside.path().join("platform.yaml"),
    )
    .expect("move");
    std::os::unix::fs::symlink(
        outside.path().join("platform.yaml"),
        dir.path().join("platform.yaml"),
    )
    .expect("symlink");
    let p = problems(dir.path());
    let e = in_file(&p, "platform.yaml:1:1");
    assert!(e.message.contains("symbolic link"), "{e:?}");
}
