"""`rollguard dashboard`: a read-only web view of the decision log across services and environments."""
