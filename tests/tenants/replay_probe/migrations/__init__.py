"""The probe's migration histories, one package each; a test picks one with MIGRATION_MODULES."""
