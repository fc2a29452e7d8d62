"""What the app says: each stage's equations, text and code, and the lecture's steps."""
