"""obsapp: the demo FastAPI service that obsctl deploys and observes.

The version lives here so the package, the image tag and the `app_info{version}` metric
agree unless `OBSAPP_VERSION` overrides it (a deploy can label a build without a rebuild).
"""

__version__ = "0.1.0"
