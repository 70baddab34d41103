//! The dose module's procedures: `orchard.dose.treat` (decide, order the sprayer,
//! publish the decision), `orchard.dose.get_settings` and `orchard.dose.set_settings`
//! (merge, check, persist, publish retained). Errors go back as `orchard.error.*` with a
//! `message` kwarg naming what is wrong; the sprayer's own errors go back with its URI.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value as Json;
use tokio::sync::{watch, Mutex, Semaphore};
use verger::client::{
    to_payload, CallError, CallOptions, Client, ClientError, Invocation, InvocationError,
    InvocationResult, PublishOptions, RegisterOptions, Registration,
};
use verger::component::retained;
use verger::config::Problem;
use verger::contract::dose::*;
use verger::contract::gnss::{published_now, unix_micros};
use verger::contract::map::{OrchardPayload, INFO};
use verger::contract::sprayer::{
    ApplyRequest, ApplyResult, WithdrawRequest, WithdrawResult, APPLY, WITHDRAW,
};
use verger::wamp::{Dict, Value};

use crate::model::{decide, Decision, SectionLimits, TreeAttributes, WindowSpan};
use crate::settings::{apply_patch, clamps, describe};
use crate::state;

/// How long a lookup of `orchard.map.info` may delay an order.
const MAP_INFO_TIMEOUT: Duration = Duration::from_millis(250);
/// After a failed lookup, orders go without parcel and crop this long before the next.
const MAP_INFO_RETRY: Duration = Duration::from_secs(10);

/// An `orchard.error.*` error with its `message` kwarg.
fn error(uri: &str, message: impl Into<String>) -> InvocationError {
    let mut kwargs = Dict::new();
    kwargs.insert("message".into(), Value::Str(message.into()));
    InvocationError::new(uri).with_kwargs(kwargs)
}

/// `orchard.error.invalid_argument` for `problems`: `message` names each field, and
/// `fields` lists them.
fn invalid(problems: &[Problem]) -> InvocationError {
    let mut e = error(ERROR_INVALID_ARGUMENT, describe(problems));
    let fields = problems
        .iter()
        .map(|p| Value::Str(p.field.clone()))
        .collect();
    e.kwargs.insert("fields".into(), Value::List(fields));
    e
}

fn invalid_field(field: &str, message: impl Into<String>) -> InvocationError {
    invalid(&[Problem::new(field, message)])
}

/// A call's keyword arguments as JSON (positional arguments are refused: every payload
/// of the contract travels as kwargs).
fn kwargs_json(inv: &Invocation) -> Result<Json, InvocationError> {
    if !inv.args.is_empty() {
        return Err(invalid_field(
            "",
            "give the arguments as keyword arguments (kwargs), not positional ones",
        ));
    }
    serde_json::to_value(Value::Dict(inv.kwargs.clone()))
        .map_err(|e| invalid_field("", e.to_string()))
}

/// The sprayer's error for the caller: its URI, its kwargs, and its message prefixed
/// with what was being done.
fn sprayer_error(doing: &str, e: CallError) -> InvocationError {
    match e {
        CallError::Application {
            error: uri,
            args,
            mut kwargs,
        } => {
            let said = kwargs
                .get("message")
                .and_then(Value::as_str)
                .or_else(|| args.first().and_then(Value::as_str))
                .unwrap_or("no message")
                .to_owned();
            kwargs.insert("message".into(), Value::Str(format!("{doing}: {said}")));
            InvocationError::new(uri).with_kwargs(kwargs)
        }
        // Not an answer of the sprayer (none registered, no answer in time, the
        // connection lost): WAMP's own URIs would say the dose module is missing.
        CallError::NoSuchProcedure(procedure) => error(
            ERROR_UNAVAILABLE,
            format!("{doing}: no sprayer (nothing serves {procedure})"),
        ),
        other => error(ERROR_UNAVAILABLE, format!("{doing}: {other}")),
    }
}

/// Parcel and crop, from the map's `orchard.map.info`: looked up once, retried a while
/// after a failure.
#[derive(Debug, Default)]
struct Lookup {
    found: Option<(Option<String>, Option<String>)>,
    failed_at: Option<Instant>,
}

impl Lookup {
    /// Whether to ask the map now.
    fn due(&self, now: Instant) -> bool {
        self.found.is_none()
            && self
                .failed_at
                .is_none_or(|t| now.duration_since(t) >= MAP_INFO_RETRY)
    }
}

/// What the dose module reads of `orchard.map.info`.
#[derive(Debug, Deserialize)]
struct MapInfo {
    orchard: OrchardPayload,
}

/// The order computed for one window.
#[derive(Debug)]
struct Computed {
    decision: Decision,
    decided_at: String,
}

/// Check the order's window and compute its dose with `settings`.
fn compute(
    request: &TreatRequest,
    window: &WindowPayload,
    settings: &DoseSettings,
) -> Result<Computed, InvocationError> {
    let open = unix_micros(&window.open)
        .ok_or_else(|| invalid_field("window.open", "not an RFC 3339 UTC time"))?;
    let close = unix_micros(&window.close)
        .ok_or_else(|| invalid_field("window.close", "not an RFC 3339 UTC time"))?;
    if close <= open {
        return Err(invalid_field("window.close", "must be after window.open"));
    }
    let duration_s = (close - open) as f64 / 1e6;
    let t = &request.tree;
    let decision = decide(
        &settings.model,
        &TreeAttributes {
            fruit_count: t.fruit_count,
            canopy_height_m: t.canopy_height_m,
            canopy_width_m: t.canopy_width_m,
            canopy_volume_m3: t.canopy_volume_m3,
        },
        &SectionLimits {
            bottom_m: request.section.bottom_m,
            top_m: request.section.top_m,
            max_flow_l_min: settings.max_flow_l_min,
        },
        &WindowSpan {
            duration_s,
            length_m: duration_s * request.speed_mps.max(0.0),
        },
        &clamps(settings),
    );
    Ok(Computed {
        decision,
        decided_at: published_now(),
    })
}

/// Refuse what no order can be: an empty `plan_id` or tree, revision 0.
fn check_request(request: &TreatRequest) -> Result<(), InvocationError> {
    if request.plan_id.trim().is_empty() {
        return Err(invalid_field("plan_id", "must not be empty"));
    }
    if request.revision == 0 {
        return Err(invalid_field("revision", "must be 1 or more"));
    }
    if request.tree.id.trim().is_empty() {
        return Err(invalid_field("tree.id", "must not be empty"));
    }
    Ok(())
}

/// The decision of a withdrawal (`computed`: the dose of nothing that became one).
fn withdrawal(
    request: &TreatRequest,
    settings: &DoseSettings,
    computed: Option<&Computed>,
    answer: &WithdrawResult,
) -> TreatResult {
    let d = computed.map(|c| &c.decision);
    TreatResult {
        plan_id: request.plan_id.clone(),
        revision: request.revision,
        tree_id: request.tree.id.clone(),
        section: request.section.id.clone(),
        withdrawn: true,
        withdraw_reason: request.withdraw_reason,
        model: d.map(|_| settings.model.name()),
        model_volume_l: d.map(|d| d.model_l),
        intended_volume_l: d.map(|d| d.intended_l),
        clamped: d.map_or(Clamp::None, |d| d.clamped),
        volume_l: 0.0,
        flow_l_min: 0.0,
        under_dosed: false,
        window: computed.and(request.window.clone()),
        sprayer: None,
        cancelled: Some(answer.withdrawn),
        decided_at: computed.map_or_else(published_now, |c| c.decided_at.clone()),
    }
}

/// The dose module's state behind its procedures.
#[derive(Debug)]
pub(crate) struct Service {
    client: Client,
    settings: watch::Sender<Arc<DoseSettings>>,
    /// Held through a whole change of the settings (merge, save, publish), so changes
    /// are saved and published in the order they are made.
    writer: Mutex<()>,
    state_file: PathBuf,
    in_flight: Arc<Semaphore>,
    max_in_flight: usize,
    lookup: Mutex<Lookup>,
}

impl Service {
    /// The service with `settings` in force, persisting changes to `state_file`, with at
    /// most `max_in_flight` orders waiting for the sprayer.
    pub(crate) fn new(
        client: Client,
        settings: DoseSettings,
        state_file: PathBuf,
        max_in_flight: usize,
    ) -> Service {
        Service {
            client,
            settings: watch::Sender::new(Arc::new(settings)),
            writer: Mutex::new(()),
            state_file,
            in_flight: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            lookup: Mutex::new(Lookup::default()),
        }
    }

    fn current(&self) -> Arc<DoseSettings> {
        self.settings.borrow().clone()
    }

    /// Publish the settings in force, retained.
    pub(crate) async fn publish_settings(&self) {
        let _writer = self.writer.lock().await;
        let payload = SettingsPayload(self.current().as_ref().clone());
        if let Err(e) = self
            .client
            .publish_typed(SETTINGS_TOPIC, &payload, retained())
            .await
        {
            tracing::warn!("settings not published: {e}");
        }
    }

    async fn treat(&self, inv: Invocation) -> InvocationResult {
        let request: TreatRequest =
            verger::config::from_json(&kwargs_json(&inv)?).map_err(|p| invalid(&[p]))?;
        check_request(&request)?;
        let settings = self.current();
        let result = match &request.window {
            None => self.withdraw(&request, &settings, None).await?,
            Some(window) => {
                let computed = compute(&request, window, &settings)?;
                if computed.decision.flow_l_min > 0.0 {
                    self.apply(&request, window, &settings, computed).await?
                } else {
                    // A dose of nothing: make sure no earlier revision sprays.
                    self.withdraw(&request, &settings, Some(computed)).await?
                }
            }
        };
        if let Err(e) = self
            .client
            .publish_typed(
                DECISION_TOPIC,
                &DecisionPayload(result.clone()),
                PublishOptions::default(),
            )
            .await
        {
            tracing::debug!("decision not published: {e}");
        }
        to_payload(&result).map_err(|e| error(verger::client::RUNTIME_ERROR, e.to_string()))
    }

    async fn withdraw(
        &self,
        request: &TreatRequest,
        settings: &DoseSettings,
        computed: Option<Computed>,
    ) -> Result<TreatResult, InvocationError> {
        let reason = match (&computed, request.withdraw_reason) {
            (Some(_), _) => Some("zero_dose".to_owned()),
            (None, r) => r.map(|r| r.as_str().to_owned()),
        };
        let call = WithdrawRequest {
            plan_id: request.plan_id.clone(),
            revision: request.revision,
            reason,
        };
        let answer: WithdrawResult =
            self.client.call_typed(WITHDRAW, &call).await.map_err(|e| {
                sprayer_error(
                    &format!(
                        "withdrawing {} revision {}",
                        request.plan_id, request.revision
                    ),
                    e,
                )
            })?;
        Ok(withdrawal(request, settings, computed.as_ref(), &answer))
    }

    async fn apply(
        &self,
        request: &TreatRequest,
        window: &WindowPayload,
        settings: &DoseSettings,
        computed: Computed,
    ) -> Result<TreatResult, InvocationError> {
        if let Some(field) = settings.product.missing() {
            return Err(error(
                ERROR_NOT_CONFIGURED,
                format!(
                    "no product set ({field} is empty): set product.name and product.authorisation with {SET_SETTINGS} (a treatment cannot be recorded without its product)"
                ),
            ));
        }
        let Ok(_permit) = self.in_flight.clone().try_acquire_owned() else {
            return Err(error(
                ERROR_BUSY,
                format!(
                    "{} orders are already waiting for the sprayer: {} not sent",
                    self.max_in_flight, request.plan_id
                ),
            ));
        };
        let (parcel, crop) = self.parcel_and_crop().await;
        let d = &computed.decision;
        let call = ApplyRequest {
            plan_id: request.plan_id.clone(),
            revision: request.revision,
            section: request.section.id.clone(),
            tree_id: request.tree.id.clone(),
            open: window.open.clone(),
            close: window.close.clone(),
            flow_l_min: d.flow_l_min,
            volume_l: d.volume_l,
            product: settings.product.clone(),
            parcel,
            crop,
        };
        let answer: ApplyResult = self.client.call_typed(APPLY, &call).await.map_err(|e| {
            sprayer_error(
                &format!("applying {} revision {}", request.plan_id, request.revision),
                e,
            )
        })?;
        Ok(TreatResult {
            plan_id: request.plan_id.clone(),
            revision: request.revision,
            tree_id: request.tree.id.clone(),
            section: request.section.id.clone(),
            withdrawn: false,
            withdraw_reason: None,
            model: Some(settings.model.name()),
            model_volume_l: Some(d.model_l),
            intended_volume_l: Some(d.intended_l),
            clamped: d.clamped,
            volume_l: d.volume_l,
            flow_l_min: d.flow_l_min,
            under_dosed: d.under_dosed,
            window: Some(window.clone()),
            sprayer: Some(ApplyAnswer::from(&answer)),
            cancelled: None,
            decided_at: computed.decided_at,
        })
    }

    /// Parcel and crop for the record: the map's, once it answered; nothing while it
    /// does not (the order goes anyway).
    async fn parcel_and_crop(&self) -> (Option<String>, Option<String>) {
        let mut lookup = self.lookup.lock().await;
        if lookup.due(Instant::now()) {
            let asked = self.client.call_with(
                INFO,
                verger::wamp::Payload::default(),
                CallOptions {
                    timeout: Some(MAP_INFO_TIMEOUT),
                    ..CallOptions::default()
                },
            );
            match asked.await.map(|r| r.kwargs_as::<MapInfo>()) {
                Ok(Ok(info)) => {
                    tracing::info!(
                        parcel = ?info.orchard.parcel_ref,
                        crop = ?info.orchard.crop,
                        "parcel and crop from the map"
                    );
                    lookup.found = Some((info.orchard.parcel_ref, info.orchard.crop));
                }
                Ok(Err(e)) => {
                    tracing::warn!("{INFO} answered something unreadable ({e}): orders go without parcel and crop");
                    lookup.failed_at = Some(Instant::now());
                }
                Err(e) => {
                    tracing::warn!(
                        "{INFO} failed ({e}): orders go without parcel and crop for now"
                    );
                    lookup.failed_at = Some(Instant::now());
                }
            }
        }
        lookup.found.clone().unwrap_or_default()
    }

    async fn set_settings(&self, inv: Invocation) -> InvocationResult {
        let patch = kwargs_json(&inv)?;
        let _writer = self.writer.lock().await;
        let current = self.current();
        let new = apply_patch(&current, &patch).map_err(|problems| invalid(&problems))?;
        if new != *current {
            let path = self.state_file.clone();
            let saving = new.clone();
            let saved = tokio::task::spawn_blocking(move || state::save(&path, &saving)).await;
            match saved {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    tracing::error!("{e}");
                    return Err(error(
                        ERROR_NOT_SAVED,
                        format!("{e}: the settings did not change"),
                    ));
                }
                Err(e) => {
                    return Err(error(
                        ERROR_NOT_SAVED,
                        format!("saving the settings failed ({e}): they did not change"),
                    ))
                }
            }
            self.settings.send_replace(Arc::new(new.clone()));
            tracing::info!(model = new.model.name().as_str(), "settings changed");
            if let Err(e) = self
                .client
                .publish_typed(SETTINGS_TOPIC, &SettingsPayload(new.clone()), retained())
                .await
            {
                tracing::warn!("settings not published: {e}");
            }
        }
        to_payload(&SetSettingsResult(new))
            .map_err(|e| error(verger::client::RUNTIME_ERROR, e.to_string()))
    }
}

/// Register the three procedures; they live as long as the returned handles.
pub(crate) async fn register(
    client: &Client,
    service: Arc<Service>,
) -> Result<Vec<Registration>, ClientError> {
    let s = service.clone();
    let treat = client
        .register(TREAT, RegisterOptions::default(), move |inv| {
            let s = s.clone();
            async move { s.treat(inv).await }
        })
        .await?;
    let s = service.clone();
    let get = client
        .register_typed(GET_SETTINGS, RegisterOptions::default(), move |(): ()| {
            let settings = s.current();
            async move { Ok::<_, InvocationError>(settings.as_ref().clone()) }
        })
        .await?;
    let s = service;
    let set = client
        .register(SET_SETTINGS, RegisterOptions::default(), move |inv| {
            let s = s.clone();
            async move { s.set_settings(inv).await }
        })
        .await?;
    Ok(vec![treat, get, set])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_map_is_asked_once_and_again_a_while_after_a_failure() {
        let t0 = Instant::now();
        let mut l = Lookup::default();
        assert!(l.due(t0));
        l.failed_at = Some(t0);
        assert!(!l.due(t0 + Duration::from_secs(1)));
        assert!(l.due(t0 + MAP_INFO_RETRY));
        l.found = Some((None, Some("apple".into())));
        assert!(!l.due(t0 + MAP_INFO_RETRY * 2), "found: never again");
    }
}
