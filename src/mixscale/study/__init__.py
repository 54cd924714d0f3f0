"""Persistent studies: an ask / tell loop over storage (SQLAlchemy), executors (local processes, Ray) and files.

``study.py`` holds :class:`Study` (create / load / read / ask / tell); ``_optimize.py`` the driver loop and the
replay of the event log; ``trial.py`` the plain records (trials, recommendations, progress) and the counts of them;
``storage.py`` owns every trial transition and the driver lease, over the tables in ``schema.py``;
``executors.py`` where trials run; ``studyfile.py`` the TOML / YAML study files; ``report.py`` the PNG / HTML report.
"""

from mixscale.study.study import Study, create_study, load_study
from mixscale.study.trial import Progress, RecommendationRecord, Trial

__all__ = ["Progress", "RecommendationRecord", "Study", "Trial", "create_study", "load_study"]
