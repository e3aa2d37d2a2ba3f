"""The labeled-issue-to-pull-request flow."""
