"""The technician's and the chief's commands: flash, deploy, provision, survey, sites, power."""
