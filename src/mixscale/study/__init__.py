"""Persistent studies: an ask / tell loop over storage (SQLAlchemy), executors (local processes, Ray) and files.

``study.py`` holds :class:`Study` and the driver loop; ``storage.py`` the tables and the driver lease;
``executors.py`` where trials run; ``studyfile.py`` the TOML / YAML study files; ``report.py`` the PNG / HTML report.
"""

from mixscale.study.study import Progress, RecommendationRecord, Study, Trial, create_study, load_study

__all__ = ["Progress", "RecommendationRecord", "Study", "Trial", "create_study", "load_study"]
