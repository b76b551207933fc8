"""Agora ideas service: projects and phases, ideas, comments, moderation, status workflow, idea board."""
