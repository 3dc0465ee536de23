//! The cluster-creation wizard, in the order of the real workflow: basic info → profile →
//! pack values → cloud account and placement → networking → node pools → policies → review
//! → deploy. Every edit rebuilds the spec and runs the model's validators (and the MAAS
//! checks once a snapshot is loaded), so each field's error stays beside it; Back keeps
//! everything; Next is refused while the step has problems.

use super::cluster_forms::{self as forms, Forms};
use super::{StepStatus, WizardOutcome};
use crate::model::{
    validate_against_maas, validate_local, ClusterProfile, ClusterSpec, NodePool, PoolRole, Problem,
};
use crate::tui::lookups::PlacementChoices;
use crate::tui::widgets::form::{ChoiceItem, FieldKind, Form, FormEvent};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterStep {
    Basics,
    Profile,
    PackValues,
    Placement,
    Network,
    Pools,
    Policies,
    Review,
    Deploy,
}

impl ClusterStep {
    pub const ALL: [ClusterStep; 9] = [
        ClusterStep::Basics,
        ClusterStep::Profile,
        ClusterStep::PackValues,
        ClusterStep::Placement,
        ClusterStep::Network,
        ClusterStep::Pools,
        ClusterStep::Policies,
        ClusterStep::Review,
        ClusterStep::Deploy,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ClusterStep::Basics => "Basics",
            ClusterStep::Profile => "Profile",
            ClusterStep::PackValues => "Pack values",
            ClusterStep::Placement => "Account & placement",
            ClusterStep::Network => "Networking",
            ClusterStep::Pools => "Node pools",
            ClusterStep::Policies => "Policies",
            ClusterStep::Review => "Review",
            ClusterStep::Deploy => "Deploy",
        }
    }

    pub fn index(self) -> usize {
        ClusterStep::ALL
            .iter()
            .position(|s| *s == self)
            .unwrap_or(0)
    }

    /// The spec paths whose problems belong to this step when no field claims them.
    fn prefixes(self) -> &'static [&'static str] {
        match self {
            ClusterStep::Basics => &["metadata"],
            ClusterStep::Profile => &["spec.profile.name", "spec.layers"],
            ClusterStep::PackValues => &["spec.profile.overrides"],
            ClusterStep::Placement => &["spec.cloudAccount", "spec.dnsDomain", "spec.osImage"],
            ClusterStep::Network => &["spec.network"],
            ClusterStep::Pools => &["spec.nodePools"],
            ClusterStep::Policies => &["spec.policies"],
            ClusterStep::Review | ClusterStep::Deploy => &[],
        }
    }
}

/// Where the deploy call is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeployState {
    NotStarted,
    Running,
    Failed(String),
}

/// Where the MAAS lookups are.
#[derive(Debug, Clone, PartialEq)]
pub enum ChoicesState {
    Loading,
    Loaded(Box<PlacementChoices>),
    Failed(String),
}

#[derive(Debug, Clone)]
pub struct ClusterWizard {
    pub step: ClusterStep,
    pub basics: Form,
    pub profile: Form,
    pub values: Form,
    pub placement: Form,
    pub network: Form,
    pub pools: Vec<Form>,
    pub pool_index: usize,
    pub policies: Form,
    pub profiles: Vec<ClusterProfile>,
    pub choices: ChoicesState,
    /// Every problem of the spec as built now (local checks, then MAAS checks).
    pub problems: Vec<Problem>,
    /// The spec as built now.
    pub spec: ClusterSpec,
    pub review_scroll: u16,
    pub deploy: DeployState,
    /// A one-line message inside the wizard (why Next was refused, …).
    pub message: Option<String>,
}

fn is_path_under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|r| r.starts_with('.') || r.starts_with('['))
}

impl ClusterWizard {
    /// A wizard pre-filled with kubemaas's defaults: a control-plane pool of 1 and a worker
    /// pool of 2 on the first account and profile.
    pub fn new(profiles: Vec<ClusterProfile>, accounts: &[String]) -> ClusterWizard {
        let account = accounts.first().cloned().unwrap_or_default();
        let mut spec = ClusterSpec::with_defaults("", &account, 1, 2);
        if !profiles
            .iter()
            .any(|p| p.metadata.name == spec.spec.profile.name)
        {
            if let Some(first) = profiles.first() {
                spec.spec.profile.name = first.metadata.name.clone();
            }
        }
        let pools = spec
            .spec
            .node_pools
            .iter()
            .enumerate()
            .map(|(i, p)| forms::pool(p, i, None))
            .collect();
        let mut w = ClusterWizard {
            step: ClusterStep::Basics,
            basics: forms::basics(&spec),
            profile: forms::profile(&spec, &profiles),
            values: forms::values(),
            placement: forms::placement(&spec, accounts),
            network: forms::network(&spec),
            pools,
            pool_index: 0,
            policies: forms::policies(&spec),
            profiles,
            choices: ChoicesState::Loading,
            problems: Vec::new(),
            spec,
            review_scroll: 0,
            deploy: DeployState::NotStarted,
            message: None,
        };
        w.sync_pool_selectors();
        w.revalidate();
        w
    }

    /// Fresh profiles (shipped and imported).
    pub fn set_profiles(&mut self, profiles: Vec<ClusterProfile>) {
        self.profile
            .set_items("profile", forms::profile_items(&profiles));
        self.profiles = profiles;
        self.revalidate();
    }

    pub fn set_accounts(&mut self, accounts: &[String]) {
        self.placement
            .set_items("account", accounts.iter().map(ChoiceItem::new).collect());
        self.revalidate();
    }

    /// The MAAS lookups arrived: zones, pools, tags, domains and images become choices with
    /// their machine counts, and the MAAS checks (capacity included) start running.
    pub fn set_choices(&mut self, result: Result<PlacementChoices, String>) {
        match result {
            Ok(c) => {
                let untouched_domain = !self.placement.field("domain").is_some_and(|f| f.touched);
                self.placement
                    .set_items("domain", forms::counted(&c.domains));
                if untouched_domain {
                    if let Some(d) = c.default_domain() {
                        let d = d.to_string();
                        self.placement.select("domain", &d);
                    }
                }
                self.placement.set_items("image", forms::image_items(&c));
                for form in &mut self.pools {
                    form.set_items("rpool", forms::counted(&c.pools));
                    form.set_items("zones", forms::counted(&c.zones));
                    form.set_items("tags", forms::counted(&c.tags));
                }
                self.choices = ChoicesState::Loaded(Box::new(c));
            }
            Err(e) => self.choices = ChoicesState::Failed(e),
        }
        self.revalidate();
    }

    pub fn selected_profile(&self) -> Option<&ClusterProfile> {
        let name = self.profile.choice("profile")?;
        self.profiles.iter().find(|p| p.metadata.name == name)
    }

    /// Whether anything was typed (Esc then asks before throwing it away).
    pub fn is_dirty(&self) -> bool {
        self.all_forms().any(Form::is_dirty)
    }

    fn all_forms(&self) -> impl Iterator<Item = &Form> {
        [
            &self.basics,
            &self.profile,
            &self.values,
            &self.placement,
            &self.network,
            &self.policies,
        ]
        .into_iter()
        .chain(self.pools.iter())
    }

    fn all_forms_mut(&mut self) -> impl Iterator<Item = &mut Form> {
        [
            &mut self.basics,
            &mut self.profile,
            &mut self.values,
            &mut self.placement,
            &mut self.network,
            &mut self.policies,
        ]
        .into_iter()
        .chain(self.pools.iter_mut())
    }

    /// The form the current step edits (none on review and deploy).
    pub fn current_form(&self) -> Option<&Form> {
        match self.step {
            ClusterStep::Basics => Some(&self.basics),
            ClusterStep::Profile => Some(&self.profile),
            ClusterStep::PackValues => Some(&self.values),
            ClusterStep::Placement => Some(&self.placement),
            ClusterStep::Network => Some(&self.network),
            ClusterStep::Pools => self.pools.get(self.pool_index),
            ClusterStep::Policies => Some(&self.policies),
            ClusterStep::Review | ClusterStep::Deploy => None,
        }
    }

    fn current_form_mut(&mut self) -> Option<&mut Form> {
        match self.step {
            ClusterStep::Basics => Some(&mut self.basics),
            ClusterStep::Profile => Some(&mut self.profile),
            ClusterStep::PackValues => Some(&mut self.values),
            ClusterStep::Placement => Some(&mut self.placement),
            ClusterStep::Network => Some(&mut self.network),
            ClusterStep::Pools => self.pools.get_mut(self.pool_index),
            ClusterStep::Policies => Some(&mut self.policies),
            ClusterStep::Review | ClusterStep::Deploy => None,
        }
    }

    /// Rebuilds the spec from every form, validates it and hands each field its problem.
    pub fn revalidate(&mut self) {
        let (spec, parse_problems) = Forms {
            basics: &self.basics,
            profile: &self.profile,
            values: &self.values,
            placement: &self.placement,
            network: &self.network,
            pools: &self.pools,
            policies: &self.policies,
        }
        .build();
        let profile = self
            .profiles
            .iter()
            .find(|p| p.metadata.name == spec.spec.profile.name);
        // Parse problems come first: a field shows its first problem, and "not a number"
        // says more than what the validator makes of the value left in its place.
        let mut problems = parse_problems.0;
        problems.extend(validate_local(&spec, profile));
        if let ChoicesState::Loaded(c) = &self.choices {
            let series = profile
                .and_then(|p| p.resolve(&spec.spec.profile.overrides).ok())
                .map(|r| r.os.series);
            // Missing zones, pools, tags, domain and image, and the capacity shortfall.
            problems.extend(validate_against_maas(&spec, series.as_deref(), &c.snapshot));
        }
        problems.dedup();
        for form in self.all_forms_mut() {
            form.apply_problems(&problems);
        }
        self.problems = problems;
        self.spec = spec;
    }

    /// Problems of `step` that no field shows (they are listed under the step's form).
    pub fn step_notes(&self, step: ClusterStep) -> Vec<&Problem> {
        self.problems
            .iter()
            .filter(|p| {
                step.prefixes()
                    .iter()
                    .any(|pre| is_path_under(&p.path, pre))
            })
            .filter(|p| {
                !self
                    .all_forms()
                    .any(|f| f.fields.iter().any(|fl| fl.claims(&p.path)))
            })
            .collect()
    }

    /// Whether the step's fields or notes hold problems.
    pub fn step_has_problems(&self, step: ClusterStep) -> bool {
        let forms: Vec<&Form> = match step {
            ClusterStep::Basics => vec![&self.basics],
            ClusterStep::Profile => vec![&self.profile],
            ClusterStep::PackValues => vec![&self.values],
            ClusterStep::Placement => vec![&self.placement],
            ClusterStep::Network => vec![&self.network],
            ClusterStep::Pools => self.pools.iter().collect(),
            ClusterStep::Policies => vec![&self.policies],
            ClusterStep::Review | ClusterStep::Deploy => return !self.problems.is_empty(),
        };
        forms.iter().any(|f| f.has_errors()) || !self.step_notes(step).is_empty()
    }

    /// How each step stands, for the step header.
    pub fn step_status(&self, step: ClusterStep) -> StepStatus {
        if step == self.step {
            StepStatus::Current
        } else if step.index() < self.step.index() {
            if self.step_has_problems(step) {
                StepStatus::Problem
            } else {
                StepStatus::Done
            }
        } else {
            StepStatus::Ahead
        }
    }

    pub fn handle(&mut self, key: KeyEvent) -> WizardOutcome {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => return WizardOutcome::Cancel,
            KeyCode::Char('c') if ctrl => return WizardOutcome::Cancel,
            KeyCode::PageDown => return self.next_step(),
            KeyCode::PageUp => return self.previous_step(),
            KeyCode::Char('a') if ctrl && self.step == ClusterStep::Pools => {
                return self.add_pool()
            }
            KeyCode::Char('x') if ctrl && self.step == ClusterStep::Pools => {
                return self.remove_pool()
            }
            _ => {}
        }
        match self.step {
            ClusterStep::Review => self.review_key(key),
            ClusterStep::Deploy => match key.code {
                KeyCode::Enter => self.deploy(),
                _ => WizardOutcome::Nothing,
            },
            _ => self.form_key(key),
        }
    }

    fn form_key(&mut self, key: KeyEvent) -> WizardOutcome {
        let Some(form) = self.current_form_mut() else {
            return WizardOutcome::Nothing;
        };
        let event = form.handle(key);
        match event {
            FormEvent::Edited => {
                self.message = None;
                if self.step == ClusterStep::Pools {
                    self.after_pool_edit();
                }
                self.revalidate();
                WizardOutcome::Changed
            }
            FormEvent::Moved => WizardOutcome::Changed,
            FormEvent::Submit => self.next_step(),
            FormEvent::Unhandled => WizardOutcome::Nothing,
        }
    }

    fn review_key(&mut self, key: KeyEvent) -> WizardOutcome {
        let before = self.review_scroll;
        // Enough to bring the end of the spec into view (each problem may wrap to a few lines).
        let last = (self.spec.to_yaml().lines().count() + 4 * self.problems.len()) as u16;
        match key.code {
            KeyCode::Down | KeyCode::Char('j') => {
                self.review_scroll = self.review_scroll.saturating_add(1).min(last)
            }
            KeyCode::Up | KeyCode::Char('k') => {
                self.review_scroll = self.review_scroll.saturating_sub(1)
            }
            KeyCode::Home => self.review_scroll = 0,
            KeyCode::Enter => return self.next_step(),
            _ => return WizardOutcome::Nothing,
        }
        if before == self.review_scroll {
            WizardOutcome::Nothing
        } else {
            WizardOutcome::Changed
        }
    }

    /// The next step, unless this one has problems (they are then all shown).
    pub fn next_step(&mut self) -> WizardOutcome {
        let i = self.step.index();
        if i + 1 >= ClusterStep::ALL.len() {
            return WizardOutcome::Nothing;
        }
        if let Some(form) = self.current_form_mut() {
            form.touch_all();
        }
        if self.step == ClusterStep::Pools {
            self.pools.iter_mut().for_each(Form::touch_all);
        }
        if self.step_has_problems(self.step) {
            self.message = Some(format!(
                "fix the problems on “{}” first (they are shown beside the fields)",
                self.step.title()
            ));
            return WizardOutcome::Changed;
        }
        self.message = None;
        self.step = ClusterStep::ALL[i + 1];
        self.review_scroll = 0;
        WizardOutcome::Changed
    }

    /// The previous step; everything typed stays.
    pub fn previous_step(&mut self) -> WizardOutcome {
        let i = self.step.index();
        if i == 0 {
            return WizardOutcome::Nothing;
        }
        self.message = None;
        self.step = ClusterStep::ALL[i - 1];
        WizardOutcome::Changed
    }

    fn deploy(&mut self) -> WizardOutcome {
        if self.deploy == DeployState::Running {
            return WizardOutcome::Nothing;
        }
        if !self.problems.is_empty() {
            self.message = Some(format!(
                "{} problem(s) left: go back (pgup) and fix them; the review lists them all",
                self.problems.len()
            ));
            return WizardOutcome::Changed;
        }
        self.deploy = DeployState::Running;
        self.message = None;
        WizardOutcome::Deploy(Box::new(self.spec.clone()))
    }

    /// The engine answered the deploy call with a failure.
    pub fn deploy_failed(&mut self, message: String) {
        self.deploy = DeployState::Failed(message);
    }

    fn add_pool(&mut self) -> WizardOutcome {
        let index = self.pools.len();
        let name = format!("workers-{}", index + 1);
        let pool = NodePool::new(name, PoolRole::Worker, 1);
        let choices = match &self.choices {
            ChoicesState::Loaded(c) => Some(c.as_ref()),
            _ => None,
        };
        let mut form = forms::pool(&pool, index, choices);
        form.focus = 1;
        self.pools.push(form);
        self.pool_index = index;
        self.sync_pool_selectors();
        self.revalidate();
        WizardOutcome::Changed
    }

    fn remove_pool(&mut self) -> WizardOutcome {
        if self.pool_index == 0 {
            self.message = Some(
                "the control-plane pool cannot be removed: every cluster needs one (change its size instead)"
                    .into(),
            );
            return WizardOutcome::Changed;
        }
        self.pools.remove(self.pool_index);
        for (i, form) in self.pools.iter_mut().enumerate() {
            forms::repath(form, i);
        }
        self.pool_index = self.pool_index.min(self.pools.len() - 1);
        self.sync_pool_selectors();
        self.revalidate();
        WizardOutcome::Changed
    }

    /// After an edit on the pools step: the selector may have moved to another pool, or a
    /// pool's name (shown in every selector) changed.
    fn after_pool_edit(&mut self) {
        let chosen = self.pools[self.pool_index]
            .choice("pool")
            .and_then(|v| v.parse::<usize>().ok());
        if let Some(i) = chosen.filter(|i| *i != self.pool_index && *i < self.pools.len()) {
            self.pools[self.pool_index].select("pool", &self.pool_index.to_string());
            self.pool_index = i;
            self.pools[i].focus = 0;
        }
        self.sync_pool_selectors();
    }

    fn sync_pool_selectors(&mut self) {
        let items: Vec<ChoiceItem> = self
            .pools
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let role = if i == 0 { "control plane" } else { "workers" };
                let name = f.text("name");
                ChoiceItem::labelled(i.to_string(), format!("{name} ({role})"))
            })
            .collect();
        for (i, form) in self.pools.iter_mut().enumerate() {
            if let Some(field) = form.field_mut("pool") {
                field.kind = FieldKind::Choice {
                    items: items.clone(),
                    selected: i,
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::shipped_profiles;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn pools_are_added_removed_and_renumbered() {
        let mut w = ClusterWizard::new(shipped_profiles(), &["lab".to_string()]);
        w.step = ClusterStep::Pools;
        w.handle(ctrl('a'));
        w.handle(ctrl('a'));
        assert_eq!(w.pools.len(), 4);
        assert_eq!(w.pool_index, 3);
        assert_eq!(
            w.pools[3].field("size").unwrap().path,
            "spec.nodePools[3].size"
        );
        // Remove the third pool (index 2): the fourth becomes index 2 and its paths follow.
        w.pool_index = 2;
        w.handle(ctrl('x'));
        assert_eq!(w.pools.len(), 3);
        assert_eq!(w.pools[2].text("name"), "workers-4");
        assert_eq!(
            w.pools[2].field("size").unwrap().path,
            "spec.nodePools[2].size"
        );
        assert_eq!(w.spec.spec.node_pools.len(), 3);
        // The control plane stays.
        w.pool_index = 0;
        w.handle(ctrl('x'));
        assert_eq!(w.pools.len(), 3);
        assert!(w.message.as_deref().unwrap().contains("cannot be removed"));
        // The selector switches pools with → and shows every pool's name.
        w.handle(key(KeyCode::Right));
        assert_eq!(w.pool_index, 1);
        match &w.pools[1].fields[0].kind {
            FieldKind::Choice { items, selected } => {
                assert_eq!(*selected, 1);
                assert_eq!(items.len(), 3);
                assert!(items[2].label.starts_with("workers-4"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn untouched_defaults_are_clean_but_a_missing_name_blocks() {
        let mut w = ClusterWizard::new(shipped_profiles(), &["lab".to_string()]);
        assert!(!w.is_dirty());
        assert!(w.basics.fields[0].error.is_some(), "the name is required");
        assert!(
            w.basics.fields[0].visible_error().is_none(),
            "but not shouted yet"
        );
        w.next_step();
        assert_eq!(w.step, ClusterStep::Basics);
        assert!(w.basics.fields[0].visible_error().is_some());
        assert_eq!(w.step_status(ClusterStep::Basics), StepStatus::Current);
    }
}
