//! Finding an environment of the estate by the address a person typed, with a
//! did-you-mean when there is none.

use ward_estate::{Estate, ResolvedEnvironment};

use crate::Error;

/// The environment at `address` (`workload/environment`), or an error that suggests one.
pub fn environment<'a>(
    estate: &'a Estate,
    address: &str,
) -> Result<&'a ResolvedEnvironment, Error> {
    estate
        .environment(address)
        .ok_or_else(|| unknown_address(estate, address))
}

/// The error for a workload or `workload/environment` that is not in the estate, with the
/// nearest name: a workload for a bare name, an environment of the same workload, or any
/// environment's address.
pub fn unknown_address(estate: &Estate, target: &str) -> Error {
    let addresses: Vec<String> = estate.environments.iter().map(|e| e.address()).collect();
    let mut names: Vec<&str> = addresses.iter().map(String::as_str).collect();
    if !target.contains('/') {
        names.extend(estate.workloads.iter().map(|w| w.name()));
    }
    let suggestion = ward_estate::decode::closest(target, &names);
    // A known workload with a mistyped environment: name the ones it has.
    let of_workload = target.split_once('/').and_then(|(workload, _)| {
        let envs: Vec<&str> = estate
            .environments
            .iter()
            .filter(|e| e.workload == workload)
            .map(|e| e.environment.as_str())
            .collect();
        (!envs.is_empty()).then(|| format!("{workload} has {}", envs.join(", ")))
    });
    let hint = match (suggestion, of_workload) {
        (Some(best), _) => {
            format!("did you mean `{best}`? `ward classify` lists every environment")
        }
        (None, Some(has)) => format!("{has}; `ward classify` lists every environment"),
        (None, None) => {
            "`ward classify` lists every environment as workload/environment".to_string()
        }
    };
    Error::bad_input(
        format!("no workload or workload environment `{target}` in the estate"),
        hint,
    )
}
