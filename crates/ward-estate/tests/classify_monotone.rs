//! Classification is monotone: making any input stricter never lowers the tier and never
//! moves an environment from dedicated to multi-tenant.

use proptest::prelude::*;
use ward_estate::classify::{ClassificationInputs, classify};
use ward_estate::model::{Criticality, DataSensitivity, HostingModel, Stage, TierObjectives};
use ward_estate::units::{Duration, Percent};

fn sensitivity() -> impl Strategy<Value = DataSensitivity> {
    prop_oneof![
        Just(DataSensitivity::Public),
        Just(DataSensitivity::Internal),
        Just(DataSensitivity::Confidential),
        Just(DataSensitivity::Phi)
    ]
}
fn criticality() -> impl Strategy<Value = Criticality> {
    prop_oneof![
        Just(Criticality::Low),
        Just(Criticality::Medium),
        Just(Criticality::High)
    ]
}
fn stage() -> impl Strategy<Value = Stage> {
    prop_oneof![
        Just(Stage::Development),
        Just(Stage::Test),
        Just(Stage::Production)
    ]
}
fn hosting() -> impl Strategy<Value = Option<HostingModel>> {
    prop_oneof![
        Just(None),
        Just(Some(HostingModel::MultiTenant)),
        Just(Some(HostingModel::Dedicated))
    ]
}

prop_compose! {
    fn inputs()(
        data_sensitivity in sensitivity(),
        integration_criticality in criticality(),
        uptime in 900_000u32..=1_000_000,
        rpo in 60u64..(14 * 86_400),
        rto in 60u64..(14 * 86_400),
        contractual_isolation in any::<bool>(),
        hosting_request in hosting(),
        stage in stage(),
    ) -> ClassificationInputs {
        ClassificationInputs {
            data_sensitivity, integration_criticality, uptime: Percent(uptime),
            rpo: Duration(rpo), rto: Duration(rto), contractual_isolation, hosting_request, stage,
        }
    }
}

/// `stricter` is at least as strict as `base` in every input.
fn stricter_than(
    base: &ClassificationInputs,
) -> impl Strategy<Value = ClassificationInputs> + use<> {
    let b = base.clone();
    (
        any::<[bool; 8]>(),
        0u32..100_000,
        0u64..86_400,
        0u64..86_400,
    )
        .prop_map(move |(up, du, drpo, drto)| {
            let mut s = b.clone();
            if up[0] {
                s.data_sensitivity = DataSensitivity::Phi.max(s.data_sensitivity);
            }
            if up[1] && s.data_sensitivity == DataSensitivity::Internal {
                s.data_sensitivity = DataSensitivity::Confidential;
            }
            if up[2] {
                s.integration_criticality = Criticality::High.max(s.integration_criticality);
            }
            if up[3] {
                s.uptime = Percent((s.uptime.0 + du).min(1_000_000));
            }
            if up[4] {
                s.rpo = Duration(s.rpo.0.saturating_sub(drpo));
            }
            if up[5] {
                s.rto = Duration(s.rto.0.saturating_sub(drto));
            }
            if up[6] {
                s.contractual_isolation = true;
            }
            if up[7] {
                s.stage = Stage::Production.max(s.stage);
                s.hosting_request = Some(HostingModel::Dedicated);
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn stricter_inputs_never_weaken_the_result((base, strict) in inputs().prop_flat_map(|b| (Just(b.clone()), stricter_than(&b)))) {
        let objectives = TierObjectives::default();
        let a = classify(&base, &objectives);
        let b = classify(&strict, &objectives);
        prop_assert!(b.tier <= a.tier, "tier went from {} to {} for {:?} -> {:?}", a.tier, b.tier, base, strict);
        if a.hosting == HostingModel::Dedicated {
            prop_assert_eq!(b.hosting, HostingModel::Dedicated);
        }
    }

    #[test]
    fn every_decision_is_explained(i in inputs()) {
        let c = classify(&i, &TierObjectives::default());
        prop_assert!(c.rules.iter().any(|r| r.decides == "tier"));
        prop_assert!(c.rules.iter().any(|r| r.decides == "hosting"));
        prop_assert!(c.rules.iter().any(|r| r.decides == "posture"));
        prop_assert!((1..=3).contains(&c.tier));
        // The posture always names a mechanism within a production RPO: WAL archived at
        // least every third of it (or Ward's floor, which WARD-RS-010 reports), else logical
        // snapshots at least as often as the RPO.
        if i.stage == Stage::Production {
            let p = &c.posture;
            if p.wal_archiving {
                prop_assert!(p.archive_timeout.as_secs() * 3 <= i.rpo.as_secs() || p.archive_timeout == ward_estate::classify::MIN_ARCHIVE_TIMEOUT, "{p:?} for RPO {}", i.rpo);
            } else {
                prop_assert!(p.backup_interval <= i.rpo, "{p:?} for RPO {}", i.rpo);
            }
            // Base backups never follow the RPO.
            prop_assert!(p.base_backup_interval >= Duration::days(1));
        }
    }
}

#[test]
fn the_mission_tiers() {
    let objectives = TierObjectives::default();
    let base = ClassificationInputs {
        data_sensitivity: DataSensitivity::Phi,
        integration_criticality: Criticality::High,
        uptime: Percent::parse("99.95%").expect("pct"),
        rpo: Duration::minutes(15),
        rto: Duration::hours(1),
        contractual_isolation: false,
        hosting_request: None,
        stage: Stage::Production,
    };
    let billing = classify(&base, &objectives);
    assert_eq!(
        (billing.tier, billing.hosting),
        (1, HostingModel::Dedicated)
    );
    assert_eq!(billing.posture.postgres_instances, 3);
    assert!(billing.posture.synchronous_replication && billing.posture.cross_region_copy);
    // RPO 15m: WAL archived every 5m at the latest; base backups daily, logical
    // snapshots daily, never every 15 minutes.
    assert!(billing.posture.wal_archiving);
    assert_eq!(billing.posture.archive_timeout, Duration::minutes(5));
    assert_eq!(billing.posture.base_backup_interval, Duration::days(1));
    assert_eq!(billing.posture.backup_interval, Duration::days(1));
    let tight = classify(
        &ClassificationInputs {
            rpo: Duration::minutes(6),
            ..base.clone()
        },
        &objectives,
    );
    assert_eq!(tight.posture.archive_timeout, Duration::minutes(2));

    let reporting = ClassificationInputs {
        data_sensitivity: DataSensitivity::Internal,
        integration_criticality: Criticality::Medium,
        uptime: Percent::parse("99.5%").expect("pct"),
        rpo: Duration::hours(12),
        rto: Duration::hours(24),
        ..base.clone()
    };
    let r = classify(&reporting, &objectives);
    assert_eq!((r.tier, r.hosting), (2, HostingModel::MultiTenant));

    let sandbox = ClassificationInputs {
        stage: Stage::Development,
        ..base.clone()
    };
    let s = classify(&sandbox, &objectives);
    assert_eq!(s.tier, 3);
    assert!(s.rules.iter().any(|r| r.id == "S-development"));
    // PHI outside production does not force dedicated hosting; contractual isolation does.
    assert_eq!(s.hosting, HostingModel::MultiTenant);
    let isolated = classify(
        &ClassificationInputs {
            contractual_isolation: true,
            ..sandbox
        },
        &objectives,
    );
    assert_eq!(isolated.hosting, HostingModel::Dedicated);
}
