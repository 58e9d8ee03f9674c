"""Change governance: deployment windows and freezes, promotion paths and change facts."""
