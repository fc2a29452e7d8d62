"""The app's side of the library: session state and caches, display arrays, image gallery, exports. Only state.py imports Streamlit."""
