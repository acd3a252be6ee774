return require "moonbak.drills.mysql"
