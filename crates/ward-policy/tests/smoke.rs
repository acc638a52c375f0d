use std::path::Path;

#[test]
fn example_smoke() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ward-cli/src/example/healthcare");
    let estate = ward_estate::load(&dir).expect("example loads");
    let checker = ward_policy::Checker::new().expect("catalogue");
    println!("{} controls", checker.catalogue().controls.len());
    let today = jiff::civil::date(2026, 11, 26);
    let report = checker
        .check(&estate, None, &ward_policy::CheckOptions::new(today))
        .expect("check");
    print!("{}", ward_policy::format::text::render(&report));
}
