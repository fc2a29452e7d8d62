"""The app's side of the library: session state and the URL (session), model choice and caches
(model_choice), plotly transport (transport), downloads and links (downloads), the sidebar (sidebar),
the image gallery, exports and the compute queue."""
