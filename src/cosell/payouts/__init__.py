"""The payout stage (SPEC section 6): plans, rules, engine, files, statements and the period lifecycle."""
