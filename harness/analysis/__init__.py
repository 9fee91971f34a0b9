"""Analysis: what the domain article says to track, computed from a run directory alone.

::

    RunDir ──load_run──> RunData ──populations──> user / legacy / ai (arrays, one clock)
                                 ──analyse──────> Analysis: metrics (dict), windows (DataFrame),
                                                  rolling conditions (for grading)

Everything is vectorised (numpy/pandas, no per-row Python). Statistics: :mod:`.stats`.

``metrics`` keys (JSON-ready; rates are fractions 0..1, latencies ms, times are offsets in
seconds from the start of the load, money in the scenario's currency; ``None`` = not computable)

- ``run``: status, t0 (epoch s), duration_s, planned_duration_s, pattern, mode, window_s,
  rolling_step_s, min_samples, confidence, records {requests, decisions},
  sources {user: requests|decisions, systems: decisions|headers}
- ``load``: requests, duration_s, rps, peak_rps_1s, users, shape, requested_users,
  requested_rps, status, load_generator_saturated, workers {name: n}, endpoints {name: n},
  meta_load, meta_load_stats (as the runner wrote them)
- ``per_system``: {``user``, ``legacy``, ``ai``} each with requests (calls; users: requests),
  served (user requests it answered), share (served / user requests), rps, success_rate,
  error_rate, errors, availability (reachable and answering in time; users: got an answer),
  ``*_ci`` [low, high] for each rate, p50_ms, p95_ms, p99_ms, ``p*_ci_ms`` [low, high],
  mean_ms, max_ms, latency_samples, cost_per_request, cost_total, source, outcomes {ok: n, ...}
- ``comparison``: compared, agreed, agreement_rate, agreement_ci, quality {legacy_labelled,
  ai_labelled, legacy_accuracy(_ci), ai_accuracy(_ci), delta, delta_ci, relative_delta} | None,
  quality_delta, latency_delta_ms {p50|p95|p99: {value, ci}} (AI minus legacy),
  rank_test {test, statistic, p_value, prob_ai_slower, n_ai, n_legacy, subsampled,
  significant} | None, cost_delta_per_request, cost_ratio
- ``fallback``: pattern, requests, rate, rate_ci, reasons {reason: n}, rescued, rescued_rate,
  user_errors_after_fallback, timeout_ms, latency_ms {p50, p95, p99, max} (what users paid when
  the gateway fell back), added_latency_p50_ms, bound_ms (timeout x 1.1 + legacy p99), over_bound,
  within_bound, per_fault [{fault, label, user_requests, user_errors, user_error_rate,
  fallbacks, rescued, fallback_p95_ms}]
- ``split``: pattern, applies (pattern is split), n, ai_requests, kill_switch_requests,
  configured_share, configured_from (records|scenario), observed_share, observed_ci (clustered
  by user, at least Wilson), drift, p_value (binomial test on requests), p_value_clustered
  (by user), significant, users, users_compared, sticky_users, switched_users,
  stickiness; shadow runs add shadow_sample_configured/observed, shadow_dropped
- ``routing`` (:mod:`.feature`): ``{applies: False}`` unless the pattern is feature; else
  applies, pattern, source (requests|decisions|None), default_route, rules [{name, field, op,
  value, route}], requests, expectations_known, judged, correct, misrouted, correctness,
  correctness_ci, worst_endpoint (lowest correctness among misrouted endpoints) | None,
  not_judged {kill_switch, other_pattern, unknown_expectation, no_served_by},
  routes [{route, kind (rule|default|other), expected_system, requests, share, served_by
  {legacy, ai, none}, errors, error_rate, error_rate_ci, p50_ms, p95_ms, p99_ms}] (every rule,
  then default, then other routes seen), endpoints [{endpoint, expected_system, expected_route,
  known, why_unknown, requests, judged, correct, misrouted, correctness, correctness_ci,
  served_by {legacy, ai, none}, routes {route: n}}] (client records only), per_rule [{route,
  system, endpoints, judged, correct, misrouted, correctness, correctness_ci}]. Expected: the
  gateway's own rule matcher (:mod:`harness.stack.rules`) on each request spec's fields;
  correct: served_by (X-Served-By, which names the failing system on errors too) == expected
- ``rollout`` (:mod:`.rollout`): ``{applies: False}`` unless a ``gateway_set`` event set
  ai_share or kill_switch; else applies, pattern, source (decisions|requests: the rows the
  observed share counts), changes, min_samples, grades {ROLLBACK|FAIL|WARN|PASS|n/a: steps},
  first_rollback (step index) | None, steps [{index, start, end (one step from the start of the
  load or a change to the next change or the end of the run), planned_at (of the change that
  started it; None for the scenario's settings), configured_share, kill_switch (on when the
  step started), user_requests, user_availability, user_availability_ci, user_error_rate,
  user_error_rate_ci, user_p95_ms, split_requests (kill-switch rows left out), ai_routed,
  kill_switch_requests, observed_share, observed_ci (Wilson), drift (split only), ai_requests,
  ai_errors, ai_error_rate, ai_error_rate_ci, ai_availability, ai_availability_ci, fault (the
  first one injected in the step) | None, trigger, trigger_fired_at, time_to_detect_s (from
  that fault, else from the step's start), detected_from (fault|step start), kill_switch_at
  (the live check's flip), grade (ROLLBACK|FAIL|WARN|PASS|n/a), evidence}]. Grades are figures:
  they never change the verdict
- ``faults``: [{index, label, target, action, at, end, planned_at, planned_end, applied,
  phases: {before|during|after: {start, end, user|legacy|ai: per-system figures of the phase
  (users add fallbacks, fallback_rate)}}}]
- ``detection``: [{fault, label, target, at, end, conditions: [{id, name, system, first_held,
  time_to_detect_s, held_before_fault, cleared, time_to_recover_s, peak_rate}], detected,
  time_to_detect_s, time_to_recover_s, recovered, expected_within_s (window + check_every),
  detected_in_time, trigger_fired_s, kill_switch_s, users_recovered_after_kill_switch_s}]
- ``cost``: run_total, legacy_run_total, ai_run_total, per_request {user, legacy, ai},
  monthly_requests, monthly_requests_from, legacy_baseline_monthly, legacy_baseline_from,
  ai_monthly, projected_monthly_total, pay_per_use_monthly, premium_monthly, premium_pct,
  budget_monthly, budget_used, over_budget_pct, by_ai_share [{ai_share, monthly,
  of_baseline}], retired_legacy_monthly
- ``capacity``: stages [{index, users, rate, start, end, requests, rps, p95_ms, error_rate,
  judged, held_sla}], knee (a stage) | None, first_broken | None, required_rps, peak_rps,
  headroom, covers (bool | None)
- ``data_loss``: checked, and when checked: expected, missing, rate, tolerance, lost

``windows`` (:func:`~harness.analysis.windows.window_frame`): one row per window per system,
columns :data:`~harness.analysis.windows.WINDOW_COLUMNS`.
"""

from harness.analysis.data import Fault, Population, RunData, load_run, populations
from harness.analysis.pipeline import Analysis, analyse, analyse_run
from harness.analysis.windows import WINDOW_COLUMNS, window_frame

__all__ = [
    "WINDOW_COLUMNS",
    "Analysis",
    "Fault",
    "Population",
    "RunData",
    "analyse",
    "analyse_run",
    "load_run",
    "populations",
    "window_frame",
]
