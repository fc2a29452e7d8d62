"""The served app under load: benchmarks that start `streamlit run app.py`, the load clients, and the
server process's memory setting."""
