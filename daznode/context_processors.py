from django.conf import settings


def daznode(request) -> dict:
    return {"daznode_dry_run": settings.DAZNODE_DRY_RUN, "daznode_env": settings.DAZNODE_ENV}
