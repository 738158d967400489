"""Who may reach ALPR data, and the tamper-evident record of everyone who did.

One package for the command line and the web console alike, so that a role is checked in one place:
`roles` (the permission table and `require`), `users` (passwords, lockout, second factor, training),
`sessions` (login and API tokens), `audit` (the hash-chained log) and `annual` (the yearly sample).
"""
