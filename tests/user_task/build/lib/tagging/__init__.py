"""Multi-label audio tagging, a task kind of a user's own: which of several sources sound in a clip."""
