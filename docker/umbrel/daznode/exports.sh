# Read by other apps on this Umbrel: where Daznode's web server answers inside Umbrel's network.
export APP_DAZNODE_HOST="daznode_web_1"
export APP_DAZNODE_PORT="8000"
