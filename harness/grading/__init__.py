"""Grading: SLAs, alerts, rollback triggers, the readiness checklist and the verdict."""
