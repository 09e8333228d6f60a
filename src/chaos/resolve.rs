//! Resolving a fault's target to one owned container: by member label or exact name,
//! never a helper, never a foreign container (see [`resolve`]'s guarantees).

use super::*;

pub(super) fn short_name<'a>(cluster: &str, container: &'a str) -> &'a str {
    container
        .strip_prefix(cluster)
        .and_then(|s| s.strip_prefix('-'))
        .unwrap_or(container)
}

pub(super) fn is_helper(c: &ObservedContainer) -> bool {
    c.label(labels::COMPONENT) == Some(HELPER_COMPONENT)
}

/// Finds the owned container a single-container target names.
///
/// # Guarantees
///
/// Only containers in `owned.containers` (which carry the cluster's ownership labels)
/// can be returned; helpers are never targets. A matching name among
/// `owned.foreign_names` yields [`ChaosError::TargetNotOwned`].
///
/// # Errors
///
/// [`ChaosError::TargetNotFound`], [`ChaosError::TargetNotOwned`], or
/// [`ChaosError::InvalidFault`] for [`Target::Cluster`].
pub(crate) fn resolve<'a>(
    owned: &'a Owned,
    cluster: &str,
    target: &Target,
) -> Result<&'a ObservedContainer, ChaosError> {
    let (found, names) = match target {
        Target::Member(m) => (
            owned.containers.iter().find(|c| {
                !is_helper(c) && (c.label(labels::MEMBER) == Some(m.as_str()) || c.name == *m)
            }),
            vec![m.clone(), format!("{cluster}-{m}")],
        ),
        Target::Container(name) => (
            owned
                .containers
                .iter()
                .find(|c| !is_helper(c) && c.name == *name),
            vec![name.clone()],
        ),
        Target::Cluster => {
            return Err(ChaosError::InvalidFault(
                "this fault needs one member or container as its target".into(),
            ))
        }
    };
    if let Some(c) = found {
        return Ok(c);
    }
    if let Some(name) = names.iter().find(|n| owned.foreign_names.contains(n)) {
        return Err(ChaosError::TargetNotOwned {
            name: name.clone(),
            cluster: cluster.to_string(),
        });
    }
    Err(ChaosError::TargetNotFound {
        target: target.to_string(),
        cluster: cluster.to_string(),
    })
}
