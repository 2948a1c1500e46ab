"""Figure builders: pure functions from simulator results to plotly figures (plotly only, no streamlit)."""
