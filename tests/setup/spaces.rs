//! The space named is the space used (issue 23, item 2): an id wins over a name, a name in
//! another case counts when only one space has it, and more than one is a usage error.

use super::*;

#[test]
fn the_space_is_found_by_name_and_a_person_is_never_made_the_broker() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let ops = f.sim.add_space("Ops Team", false);
    let out = setup(&f, &key, &["--space", "Ops Team"]).run();
    out.code(0);
    assert_eq!(
        f.sim.action_templates(&ops).len(),
        shipped_templates().len()
    );
    assert!(f.sim.action_templates("Spaces-1").is_empty());
    let out = setup(&f, &key, &["--broker", "jane.doe"]).run();
    out.code(2).one_error_line(&["a person's account"]);
}

#[test]
fn the_space_whose_id_is_given_wins_over_a_space_named_like_it() {
    // Issue 23, item 2: `--space Spaces-4` once picked the space *named* "Spaces-4".
    let f = Fixture::new();
    let key = admin_key(&f);
    let named = f.sim.add_space("Spaces-4", false);
    let mut id = String::new();
    for n in 0..8 {
        id = f.sim.add_space(&format!("Team {n}"), false);
        if id == "Spaces-4" {
            break;
        }
    }
    assert_eq!(id, "Spaces-4", "the simulator numbers spaces in order");
    assert_ne!(named, id);
    let out = setup(&f, &key, &["--space", "Spaces-4"]).run();
    out.code(0).warns(&[&format!(
        "'Spaces-4' is the id of the space 'Team 1' and the name of another ({named}): setup prepares Spaces-4"
    )]);
    assert_eq!(
        f.sim.action_templates("Spaces-4").len(),
        shipped_templates().len()
    );
    assert!(f.sim.action_templates(&named).is_empty());
    // By its name, the other one.
    setup(&f, &key, &["--space", &named]).run().code(0);
    assert_eq!(
        f.sim.action_templates(&named).len(),
        shipped_templates().len()
    );
}

#[test]
fn a_space_name_that_only_differs_in_case_from_several_is_a_usage_error() {
    let f = Fixture::new();
    let key = admin_key(&f);
    let lower = f.sim.add_space("ops", false);
    let upper = f.sim.add_space("OPS", false);
    let out = setup(&f, &key, &["--space", "Ops"]).run();
    out.code(2)
        .one_error_line(&["could be any of", &lower, &upper, "give the space's id"]);
    assert_eq!(writes(&f), Vec::<String>::new());
    // One in another case is that one.
    let f = Fixture::new();
    let key = admin_key(&f);
    let ops = f.sim.add_space("Ops", false);
    setup(&f, &key, &["--space", "OPS"]).run().code(0);
    assert_eq!(
        f.sim.action_templates(&ops).len(),
        shipped_templates().len()
    );
}
