"""alerts app (public schema): the alert models' settings per compound, the alert lifecycle,
joint-defence broadcasts and live push. Alert rows themselves are ``events.Alert``."""

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AlertsConfig(AppConfig):
    name = "alerts"
    verbose_name = _("Alerts")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Mediation raises ``dispute_high_risk`` but lies a layer below: it is told here how to
        # read a compound's rule for it (on/off, severity), so the settings page governs it too.
        from alerts.rules import rules_for
        from mediation.actions import RISK_ALERT, register_risk_alert_rule
        from tenants.models import Compound

        def risk_rule(compound: Compound) -> tuple[bool, str]:
            rule = rules_for(compound.pk)[RISK_ALERT]
            return rule.enabled, rule.severity

        register_risk_alert_rule(risk_rule)
